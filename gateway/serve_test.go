package gateway_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testcerts"
)

// serveGateway runs Serve for cfg on a loopback port and returns the address and the function
// that cancels Serve and returns its result (failing the test when it takes 30 s).
func serveGateway(t *testing.T, cfg configs.Config) (string, func() error) {
	t.Helper()
	srv, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return ln.Addr().String(), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Serve did not return within 30s of its cancellation")
			return nil
		}
	}
}

// With an event stream connected, cancelling Serve closes the stream and returns nil at once;
// it used to wait for the stream until the shutdown timeout and fail.
func TestShutdownEndsEventStreams(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	cfg := c.Config()
	cfg.HTTP.ShutdownTimeout = 2 * time.Minute // the budget the bug used up; the test waits 30 s at most
	addr, shutdown := serveGateway(t, cfg)
	base := "http://" + addr
	req, err := http.NewRequest(http.MethodGet, base+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rd := bufio.NewReader(resp.Body)
	if line, err := rd.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("stream started with %q, %v", line, err)
	}
	// "OPTIONS *" reaches the router: a JSON 404, not net/http's empty 200.
	if r, body := rawRequest(t, base, "OPTIONS", "*"); r.StatusCode != 404 || !strings.Contains(body, `"not_found"`) {
		t.Errorf("OPTIONS *: %d %s", r.StatusCode, body)
	}
	start := time.Now()
	if err := shutdown(); err != nil {
		t.Errorf("Serve returned %v, want nil", err)
	}
	t.Logf("shutdown with a stream connected took %s", time.Since(start).Round(time.Millisecond))
	if _, err := io.Copy(io.Discard, rd); err != nil {
		t.Errorf("the stream did not end cleanly: %v", err)
	}
}

// serveTLSConfig returns a TLS client configuration that trusts ca only.
func trusting(ca *testcerts.CA) *tls.Config {
	return &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
}

// peerName GETs /healthz through c and returns the server certificate's common name and whether
// the connection was reused.
func peerName(t *testing.T, c *http.Client, url string) (string, bool) {
	t.Helper()
	var reused bool
	req, _ := http.NewRequest("GET", url+"/healthz", nil)
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s/healthz: %v", url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET %s/healthz: %d, tls %v", url, resp.StatusCode, resp.TLS != nil)
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName, reused
}

// serve with tls.cert_file/key_file speaks HTTPS; SIGHUP loads new files for new connections
// while a connection opened before keeps working with its certificate.
func TestServeTLSReloadsOnSIGHUP(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	dir := t.TempDir()
	ca := testcerts.NewCA(t, "gateway test CA")
	certFile, keyFile := ca.Server(t, "gateway-1", "127.0.0.1").WriteFiles(t, dir, "gateway")
	cfg := c.Config()
	cfg.TLS = configs.TLS{CertFile: certFile, KeyFile: keyFile}
	addr, shutdown := serveGateway(t, cfg)
	url := "https://" + addr

	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trusting(ca)}}
	if name, _ := peerName(t, old, url); name != "gateway-1" {
		t.Fatalf("certificate %q, want gateway-1", name)
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP answered 200 on the TLS listener")
		}
	}
	untrusted := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trusting(testcerts.NewCA(t, "other"))}}
	if _, err := untrusted.Get(url + "/healthz"); err == nil {
		t.Error("a client that does not trust the CA connected")
	}

	// Rotate the files, then SIGHUP (Serve watches it while it runs).
	ca.Server(t, "gateway-2", "127.0.0.1").WriteFiles(t, dir, "gateway")
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fresh := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: trusting(ca), DisableKeepAlives: true}}
		if name, _ := peerName(t, fresh, url); name == "gateway-2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new connections still get the old certificate 10s after SIGHUP")
		}
	}
	name, reused := peerName(t, old, url)
	if !reused || name != "gateway-1" {
		t.Errorf("the connection opened before the reload: reused %v, certificate %q; want it kept with gateway-1", reused, name)
	}
	if err := shutdown(); err != nil {
		t.Errorf("Serve returned %v", err)
	}
}
