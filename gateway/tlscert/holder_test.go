package tlscert_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/tlscert"
	"github.com/shardstock/shardstock/tools/testcerts"
)

// files are the paths a gateway's config names; tests overwrite them to rotate.
type files struct{ cert, key string }

func newFiles(t *testing.T) files {
	dir := t.TempDir()
	return files{cert: filepath.Join(dir, "gateway.crt"), key: filepath.Join(dir, "gateway.key")}
}

// install writes the pair to the files, as a rotation would.
func (f files) install(t *testing.T, p *testcerts.Pair) {
	t.Helper()
	write(t, f.cert, p.CertPEM)
	write(t, f.key, p.KeyPEM)
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// serve runs an HTTPS server on 127.0.0.1 the way `serve` will: tls.NewListener over a TCP
// listener, with the holder's configuration.
func serve(t *testing.T, h *tlscert.Holder) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok"))
	}), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(tls.NewListener(ln, h.TLSConfig())); !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return "https://" + ln.Addr().String() + "/"
}

// newClient trusts ca and keeps connections alive (HTTP/1.1).
func newClient(t *testing.T, ca *testcerts.CA) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// get returns the common name of the certificate the request's connection was opened with and
// whether the connection was reused.
func get(t *testing.T, c *http.Client, url string) (cn string, reused bool) {
	t.Helper()
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = info.Reused },
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 16)
	n, _ := resp.Body.Read(buf)
	if string(buf[:n]) != "ok" || resp.TLS == nil {
		t.Fatalf("GET %s: %d %q, TLS %v", url, resp.StatusCode, buf[:n], resp.TLS != nil)
	}
	return resp.TLS.PeerCertificates[0].Subject.CommonName, reused
}

// A reload changes the certificate of new connections; a keep-alive connection opened before
// keeps working with the certificate it was opened with.
func TestReloadServesNewCertificateWithoutDroppingConnections(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway CA")
	certA, certB := ca.Server(t, "gateway-a", "127.0.0.1"), ca.Server(t, "gateway-b", "127.0.0.1")
	f := newFiles(t)
	f.install(t, certA)
	h, err := tlscert.Load(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, h)

	old := newClient(t, ca)
	if cn, _ := get(t, old, url); cn != "gateway-a" {
		t.Fatalf("first connection sees %s, want gateway-a", cn)
	}

	f.install(t, certB)
	if err := h.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if h.Leaf().Subject.CommonName != "gateway-b" {
		t.Errorf("Leaf = %s after reload", h.Leaf().Subject.CommonName)
	}
	if cn, _ := get(t, newClient(t, ca), url); cn != "gateway-b" {
		t.Errorf("new connection after reload sees %s, want gateway-b", cn)
	}
	cn, reused := get(t, old, url)
	if !reused || cn != "gateway-a" {
		t.Errorf("idle keep-alive connection: reused=%v, certificate %s; want the same connection with gateway-a", reused, cn)
	}
}

// Broken files leave the previous certificate in place.
func TestReloadKeepsCertificateWhenFilesAreBroken(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway CA")
	certA, certB := ca.Server(t, "gateway-a", "127.0.0.1"), ca.Server(t, "gateway-b", "127.0.0.1")
	f := newFiles(t)
	f.install(t, certA)
	h, err := tlscert.Load(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, h)
	breakages := []struct {
		name  string
		apply func()
		want  string
	}{
		{"garbage certificate", func() { write(t, f.cert, []byte("not a certificate")) }, "failed to find any PEM data"},
		{"key of another certificate", func() { write(t, f.cert, certA.CertPEM); write(t, f.key, certB.KeyPEM) }, "private key does not match"},
		{"empty key", func() { write(t, f.key, nil) }, "failed to find any PEM data"},
		{"missing files", func() { os.Remove(f.cert) }, "no such file"},
	}
	for _, b := range breakages {
		b.apply()
		err := h.Reload()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%s: Reload = %v, want an error mentioning %q", b.name, err, b.want)
		}
		if cn, _ := get(t, newClient(t, ca), url); cn != "gateway-a" {
			t.Errorf("%s: new connection sees %s, want gateway-a still", b.name, cn)
		}
	}
	if _, err := tlscert.Load(f.cert, f.key); err == nil {
		t.Error("Load of missing files succeeded")
	}
}

// The configuration offers HTTP/2 by ALPN, and net/http's Server.Serve speaks it on a
// tls.NewListener.
func TestTLSConfigServesHTTP2AndHTTP1(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway CA")
	f := newFiles(t)
	f.install(t, ca.Server(t, "gateway-a", "127.0.0.1"))
	h, err := tlscert.Load(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, h)
	for _, h2 := range []bool{true, false} {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: h2}
		resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get(url)
		if err != nil {
			t.Fatalf("h2=%v: %v", h2, err)
		}
		resp.Body.Close()
		tr.CloseIdleConnections()
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Errorf("ForceAttemptHTTP2=%v: protocol %s", h2, resp.Proto)
		}
	}
	if v := h.TLSConfig().MinVersion; v != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", v)
	}
}
