package egress_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/egress"
)

// receiver is an httptest server on 127.0.0.1 that counts the connections it accepts.
type receiver struct {
	*httptest.Server
	conns atomic.Int64
	hits  atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	r.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		r.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	r.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.Start()
	t.Cleanup(r.Close)
	if !strings.HasPrefix(r.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("receiver listens on %s, want 127.0.0.1", r.Listener.Addr())
	}
	return r
}

// port is the receiver's port.
func (r *receiver) port() string {
	u, _ := url.Parse(r.URL)
	return u.Port()
}

// client is an http.Client over the guard's transport, as the webhook sender will use it.
func client(g *egress.Guard) *http.Client {
	tr := g.Transport()
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

// post sends one delivery and returns its error (nil for a 2xx answer).
func post(c *http.Client, u string) error {
	resp, err := c.Post(u, "application/json", strings.NewReader(`{}`))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &egress.StatusError{Code: resp.StatusCode}
	}
	return nil
}

// A receiver on 127.0.0.1 is reached through the guarded transport only when allowed.
func TestTransportReachesLoopbackOnlyWhenAllowed(t *testing.T) {
	rcv := newReceiver(t)
	r := newResolver("receiver.test", "127.0.0.1")
	byName := "http://receiver.test:" + rcv.port() + "/hook"

	refusing := client(newGuard(t, r))
	for _, u := range []string{rcv.URL + "/hook", byName} {
		err := post(refusing, u)
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("POST %s without allow-list: %v, want refused", u, err)
		}
		if got := egress.SanitizeError(err); got != egress.ReasonRefused {
			t.Errorf("SanitizeError = %q, want %q", got, egress.ReasonRefused)
		}
	}
	if n := rcv.conns.Load(); n != 0 {
		t.Fatalf("receiver accepted %d connections from a refusing guard", n)
	}

	allowing := client(newGuard(t, r, "127.0.0.0/8"))
	for _, u := range []string{rcv.URL + "/hook", byName} {
		if err := post(allowing, u); err != nil {
			t.Errorf("POST %s with 127.0.0.0/8 allowed: %v", u, err)
		}
	}
	if n := rcv.hits.Load(); n != 2 {
		t.Errorf("receiver got %d deliveries, want 2", n)
	}
}

// DNS rebinding: the name resolves to a public address when the webhook is registered and to
// 127.0.0.1 when the delivery connects; the connection is refused.
func TestDialRefusesRebindingToLoopback(t *testing.T) {
	rcv := newReceiver(t)
	r := newResolver("rebind.test", "93.184.216.34")
	g := newGuard(t, r)
	u := "http://rebind.test:" + rcv.port() + "/hook"
	if err := g.CheckURL(context.Background(), u); err != nil {
		t.Fatalf("registration: %v", err)
	}
	r.set("rebind.test", "127.0.0.1") // the attacker's DNS changes its answer
	err := post(client(g), u)
	if !errors.Is(err, egress.ErrRefused) {
		t.Fatalf("delivery after rebinding: %v, want refused", err)
	}
	if n := r.count("rebind.test"); n != 2 {
		t.Errorf("resolver asked %d times, want 2 (registration and connect)", n)
	}
	if n := rcv.conns.Load(); n != 0 {
		t.Errorf("receiver accepted %d connections", n)
	}
}

// The dialer's Control refuses a connect to 127.0.0.1 even when nothing checked the address
// before (any dialer that installs it obeys the policy).
func TestControlRefusesConnectWhenURLCheckBypassed(t *testing.T) {
	rcv := newReceiver(t)
	g := newGuard(t, newResolver())
	d := net.Dialer{Control: g.Control, Timeout: 2 * time.Second}
	for _, addr := range []string{rcv.Listener.Addr().String(), "[::ffff:127.0.0.1]:" + rcv.port()} {
		conn, err := d.Dial("tcp", addr)
		if err == nil {
			conn.Close()
			t.Fatalf("Dial %s through Control succeeded", addr)
		}
		if !errors.Is(err, egress.ErrRefused) {
			t.Errorf("Dial %s: %v, want ErrRefused", addr, err)
		}
	}
	// A transport that skips DialContext but keeps Control (a different code path) is refused too.
	tr := &http.Transport{DialContext: (&net.Dialer{Control: g.Control}).DialContext}
	defer tr.CloseIdleConnections()
	if err := post(&http.Client{Transport: tr}, rcv.URL); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("POST through a Control-only transport: %v, want refused", err)
	}
	if n := rcv.conns.Load(); n != 0 {
		t.Errorf("receiver accepted %d connections", n)
	}
	allowed := newGuard(t, newResolver(), "127.0.0.1/32")
	d.Control = allowed.Control
	conn, err := d.Dial("tcp", rcv.Listener.Addr().String())
	if err != nil {
		t.Fatalf("Dial with 127.0.0.1 allowed: %v", err)
	}
	conn.Close()
	if _, err := (&net.Dialer{Control: allowed.Control}).Dial("udp", rcv.Listener.Addr().String()); !errors.Is(err, egress.ErrRefused) {
		t.Errorf("udp through Control: %v, want refused", err)
	}
}

// With several answers, only the allowed ones are dialed.
func TestDialSkipsRefusedAddresses(t *testing.T) {
	rcv := newReceiver(t)
	r := newResolver("multi.test", "10.0.0.1,169.254.169.254,127.0.0.1")
	g := newGuard(t, r, "127.0.0.0/8")
	conn, err := g.DialContext(context.Background(), "tcp", "multi.test:"+rcv.port())
	if err != nil {
		t.Fatalf("DialContext: %v", err)
	}
	if got := conn.RemoteAddr().String(); got != rcv.Listener.Addr().String() {
		t.Errorf("connected to %s, want the receiver", got)
	}
	conn.Close()

	r.set("multi.test", "10.0.0.1,169.254.169.254")
	_, err = g.DialContext(context.Background(), "tcp", "multi.test:"+rcv.port())
	var re *egress.RefusedError
	if !errors.As(err, &re) || re.Addr.String() != "10.0.0.1" {
		t.Errorf("DialContext with no allowed address: %v, want the refusal of the first", err)
	}
	_, err = g.DialContext(context.Background(), "tcp", "unknown.test:80")
	if got := egress.SanitizeError(err); got != egress.ReasonHostNotFound {
		t.Errorf("unknown host: SanitizeError(%v) = %q", err, got)
	}
}

// The transport never goes through a proxy from the environment.
func TestTransportIgnoresProxyEnvironment(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	tr := newGuard(t, newResolver()).Transport()
	if tr.Proxy != nil {
		t.Error("Transport has a Proxy function")
	}
	rcv := newReceiver(t)
	if err := post(client(newGuard(t, newResolver(), "127.0.0.1/32")), rcv.URL); err != nil {
		t.Errorf("POST with a proxy in the environment: %v", err)
	}
}
