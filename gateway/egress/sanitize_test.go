package egress_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/egress"
)

// vocabulary is everything SanitizeError may answer.
var vocabulary = regexp.MustCompile(`^(http [1-5]\d\d|` + strings.Join([]string{
	egress.ReasonRefused, egress.ReasonCanceled, egress.ReasonHostNotFound,
	egress.ReasonDNS, egress.ReasonConnFailed, egress.ReasonTLS, egress.ReasonHTTP, egress.ReasonFailed}, "|") + `)$`)

func checkSanitized(t *testing.T, err error, want string) {
	t.Helper()
	got := egress.SanitizeError(err)
	if got != want {
		t.Errorf("SanitizeError(%v) = %q, want %q", err, got, want)
	}
	if err != nil && !vocabulary.MatchString(got) {
		t.Errorf("SanitizeError(%v) = %q, outside the vocabulary", err, got)
	}
}

// wrapDial wraps cause the way net/http reports a failed dial to 10.1.2.3:8080.
func wrapDial(cause error) error {
	return &url.Error{Op: "Post", URL: "http://hooks.internal:8080/x", Err: &net.OpError{
		Op: "dial", Net: "tcp", Addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8080}, Err: cause}}
}

func TestSanitizeErrorTable(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{nil, ""},
		{wrapDial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), egress.ReasonConnFailed},
		{wrapDial(os.NewSyscallError("read", syscall.ECONNRESET)), egress.ReasonConnFailed},
		{wrapDial(os.NewSyscallError("connect", syscall.EHOSTUNREACH)), egress.ReasonConnFailed},
		{wrapDial(os.NewSyscallError("connect", syscall.ENETUNREACH)), egress.ReasonConnFailed},
		{wrapDial(&net.DNSError{Err: "no such host", Name: "hooks.internal", Server: "10.0.0.53:53", IsNotFound: true}), egress.ReasonHostNotFound},
		{wrapDial(&net.DNSError{Err: "server misbehaving", Name: "hooks.internal", Server: "10.0.0.53:53"}), egress.ReasonDNS},
		{wrapDial(&net.DNSError{Err: "i/o timeout", Name: "hooks.internal", IsTimeout: true}), egress.ReasonConnFailed},
		{wrapDial(os.ErrDeadlineExceeded), egress.ReasonConnFailed},
		{fmt.Errorf("deliver: %w", context.DeadlineExceeded), egress.ReasonConnFailed},
		{fmt.Errorf("deliver: %w", context.Canceled), egress.ReasonCanceled},
		{wrapDial(&egress.RefusedError{Addr: netip.MustParseAddr("10.1.2.3"), Class: "a private", Allowable: true}), egress.ReasonRefused},
		{fmt.Errorf("deliver: %w", &egress.StatusError{Code: 503}), "http 503"},
		{&egress.StatusError{Code: 302}, "http 302"},
		{&egress.StatusError{Code: 999}, egress.ReasonHTTP},
		{&url.Error{Op: "Post", URL: "http://x", Err: io.ErrUnexpectedEOF}, egress.ReasonConnFailed},
		{&url.Error{Op: "Post", URL: "http://x", Err: io.EOF}, egress.ReasonConnFailed},
		{errors.New("webhook at 10.1.2.3:8080 said no"), egress.ReasonFailed},
	}
	for _, tt := range tests {
		checkSanitized(t, tt.err, tt.want)
	}
}

// Real failures against loopback receivers come out as the fixed phrases.
func TestSanitizeErrorRealFailures(t *testing.T) {
	g := newGuard(t, newResolver("hooks.test", "127.0.0.1"), "127.0.0.0/8")
	c := client(g)

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		checkSanitized(t, post(c, "http://"+addr+"/"), egress.ReasonConnFailed)
	})
	t.Run("http 500", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "database at 10.9.9.9 down", http.StatusInternalServerError)
		}))
		defer srv.Close()
		checkSanitized(t, post(c, srv.URL), "http 500")
	})
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
		defer srv.Close()
		defer close(release)
		short := client(g)
		short.Timeout = 100 * time.Millisecond
		checkSanitized(t, post(short, srv.URL), egress.ReasonConnFailed)
	})
	t.Run("connection closed mid-answer", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		}))
		defer srv.Close()
		checkSanitized(t, post(c, srv.URL), egress.ReasonConnFailed)
	})
	t.Run("tls error", func(t *testing.T) {
		srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer srv.Close()
		checkSanitized(t, post(c, srv.URL), egress.ReasonTLS) // its certificate is not trusted
		checkSanitized(t, post(c, strings.Replace(srv.URL, "https:", "http:", 1)), "http 400")
		// An HTTP server answering a TLS client: net/http reports it with an error of its own text.
		plain := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		defer plain.Close()
		checkSanitized(t, post(c, strings.Replace(plain.URL, "http:", "https:", 1)), egress.ReasonFailed)
		// Something that is not TLS at all.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				_, _ = conn.Write([]byte("SSH-2.0-OpenSSH_9.2\r\n"))
				conn.Close()
			}
		}()
		checkSanitized(t, post(c, "https://"+ln.Addr().String()+"/"), egress.ReasonTLS)
	})
	t.Run("host not found", func(t *testing.T) {
		checkSanitized(t, post(c, "http://nowhere.test/"), egress.ReasonHostNotFound)
	})
	t.Run("refused", func(t *testing.T) {
		checkSanitized(t, post(c, "http://[::1]:1/"), egress.ReasonRefused)
	})
}
