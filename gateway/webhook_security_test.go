package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// rebindingResolver answers first for a name with first, then always with later: DNS rebinding.
// Both are loopback addresses, so nothing in this test can reach another host.
type rebindingResolver struct {
	name         string
	first, later netip.Addr
	calls        atomic.Int32
}

func (r *rebindingResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host != r.name {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if r.calls.Add(1) == 1 {
		return []netip.Addr{r.first}, nil
	}
	return []netip.Addr{r.later}, nil
}

// hits is a loopback webhook receiver that counts requests by path and records their time.
type hits struct {
	mu  sync.Mutex
	at  map[string][]time.Time
	evs map[string][]received
	srv *httptest.Server
}

func newHits(t *testing.T) *hits {
	h := &hits{at: map[string][]time.Time{}, evs: map[string][]received{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		body, _ := io.ReadAll(r.Body)
		var ev received
		_ = json.Unmarshal(body, &ev)
		h.mu.Lock()
		h.at[r.URL.Path] = append(h.at[r.URL.Path], now)
		h.evs[r.URL.Path] = append(h.evs[r.URL.Path], ev)
		h.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hits) get(path string) ([]time.Time, []received) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]time.Time(nil), h.at[path]...), append([]received(nil), h.evs[path]...)
}

func fieldOf(r clustertest.Response) any {
	d, _ := r.Body["error"].(map[string]any)["details"].(map[string]any)
	return d["field"]
}

// Registration refuses loopback, private, link-local, shared, multicast and unspecified targets,
// in every spelling, and host names that resolve to them (localhost, and a name the test's
// resolver maps to 127.0.0.1): 422 with details.field = "url". Nothing is stored and nothing is
// dialled (the check resolves names but never connects).
func TestWebhookSSRFTargetsRefusedAtRegistration(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	res := &rebindingResolver{name: "internal.test", first: netip.MustParseAddr("127.0.0.1"), later: netip.MustParseAddr("127.0.0.1")}
	g := c.StartGateway(t, gateway.Options{Resolver: res}, func(cfg *configs.Config) { cfg.Webhooks = configs.Webhooks{} })
	for _, u := range []string{
		"http://127.0.0.1:8080/hook", "http://127.1/", "http://2130706433/", "http://0x7f000001/", "http://0177.0.0.1/",
		"http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://[64:ff9b::7f00:1]/",
		"http://localhost:8080/hook", "http://internal.test/hook",
		"http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/", "http://100.64.0.1/",
		"http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/", "http://[fd00::1]/",
		"http://0.0.0.0/", "http://[::]/", "http://224.0.0.1/", "http://255.255.255.255/",
		"http://user:pw@example.com/", "ftp://example.com/", "http:///x",
	} {
		r := g.Do("POST", "/v1/webhooks", map[string]any{"url": u, "secret": "0123456789abcdef"})
		if r.Status != 422 || r.ErrorCode() != "validation_failed" || fieldOf(r) != "url" {
			t.Errorf("%s: %d %s, want 422 validation_failed with details.field url", u, r.Status, r.Raw)
		}
	}
	if res.calls.Load() == 0 {
		t.Error("internal.test was never resolved")
	}
	if r := g.Expect(g.Do("GET", "/v1/webhooks", nil), 200, ""); strings.Contains(string(r.Raw), "wh_") {
		t.Errorf("a refused webhook was stored: %s", r.Raw)
	}
}

// A name that resolved to an allowed address at registration and to a refused one later (DNS
// rebinding) is refused at connect time: the receiver never gets a request, and the dead
// letter says "refused by egress policy" without the address.
func TestWebhookRebindingRefusedAtConnect(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	res := &rebindingResolver{name: "hooks.test", first: netip.MustParseAddr("127.0.0.2"), later: netip.MustParseAddr("127.0.0.1")}
	g := c.StartGateway(t, gateway.Options{Resolver: res}, func(cfg *configs.Config) {
		eventsConfig(configs.Default().Events)(cfg)
		cfg.Events.WebhookMaxAttempts = 2
		cfg.Webhooks = configs.Webhooks{AllowCIDRs: []string{"127.0.0.2/32"}}
	})
	rcv := newHits(t) // on 127.0.0.1, which the policy refuses
	_, port, _ := net.SplitHostPort(rcv.srv.Listener.Addr().String())
	wh := g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": "http://hooks.test:" + port + "/rebind",
		"secret": "0123456789abcdef", "event_types": []string{"product.updated"}}), 201, "")
	g.Product("REBIND-1", 0, "")
	dl := waitDeadLetters(t, g, wh.Str("id"), 1)
	if !strings.Contains(string(dl), `"last_error":"refused by egress policy"`) || strings.Contains(string(dl), "127.0.0.") ||
		strings.Contains(string(dl), port) {
		t.Errorf("dead letter: %s", dl)
	}
	if at, _ := rcv.get("/rebind"); len(at) > 0 {
		t.Errorf("the receiver on a refused address got %d requests", len(at))
	}
}

// waitDeadLetters polls a webhook's dead letters until there are n and returns the answer.
func waitDeadLetters(t *testing.T, g *clustertest.Gateway, id string, n int) []byte {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r := g.Expect(g.Do("GET", "/v1/webhooks/"+id+"/dead-letters", nil), 200, "")
		if list, _ := r.Body["dead_letters"].([]any); len(list) >= n {
			return r.Raw
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d dead letters after 15s: %s", n, r.Raw)
		}
	}
}

// A closed port and a port that never answers read the same in a dead letter ("connection
// failed"): webhooks are no port scanner.
func TestDeadLetterErrorsAreNoPortScanner(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) {
		eventsConfig(configs.Default().Events)(cfg)
		cfg.Events.WebhookMaxAttempts = 2
		cfg.Events.WebhookTimeout = 300 * time.Millisecond
	})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (the kernel does) and never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	var ids []string
	for _, addr := range []string{closedAddr, silent.Addr().String()} {
		wh := g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": "http://" + addr + "/x",
			"secret": "0123456789abcdef", "event_types": []string{"product.updated"}}), 201, "")
		ids = append(ids, wh.Str("id"))
	}
	g.Product("SCAN-1", 0, "")
	for i, id := range ids {
		dl := waitDeadLetters(t, g, id, 1)
		if !strings.Contains(string(dl), `"last_error":"connection failed"`) || strings.Contains(string(dl), "127.0.0.1") {
			t.Errorf("webhook %d dead letter: %s", i, dl)
		}
	}
}

// A webhook deleted right after its creation, under a stream of changes, receives nothing after
// its DELETE returned, never an event from before its creation, and leaves no cursor or dead
// letter behind. (It used to get old events from position 0: the relay's list of webhooks was
// stale and recreated the cursor at 0.)
func TestDeletedWebhookReceivesNothingAfterDelete(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 3})
	g := c.StartGateway(t, gateway.Options{}, eventsConfig(configs.Default().Events))
	skus := c.SKUsPerShard(t, "DELWH")
	for _, s := range skus {
		g.Product(s, 0, "1")
	}
	// History the new webhooks must never see.
	for i := 0; i < 30; i++ {
		g.Expect(g.Do("POST", "/v1/products/"+skus[i%len(skus)]+"/adjustments", `{"delta":1,"reason":"receive"}`), 200, "")
	}
	time.Sleep(time.Second)
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, _ = g.Try("POST", "/v1/products/"+skus[(w+i)%len(skus)]+"/adjustments", `{"delta":1,"reason":"receive"}`)
			}
		})
	}
	rcv := newHits(t)
	type deleted struct {
		id, path         string
		created, removed time.Time
	}
	var hooks []deleted
	for i := 0; i < 25; i++ {
		path := fmt.Sprintf("/hook-%d", i)
		created := time.Now()
		wh := g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL + path, "secret": "0123456789abcdef"}), 201, "")
		if i%2 == 1 {
			time.Sleep(time.Duration(i*20) * time.Millisecond) // some live long enough to receive events
		}
		g.Expect(g.Do("DELETE", "/v1/webhooks/"+wh.Str("id"), nil), 200, "")
		hooks = append(hooks, deleted{wh.Str("id"), path, created, time.Now()})
	}
	time.Sleep(2 * time.Second) // relays that still listed the webhooks had time to act
	stop()
	wg.Wait()
	total := 0
	for _, h := range hooks {
		at, evs := rcv.get(h.path)
		total += len(at)
		for i, a := range at {
			if a.After(h.removed) {
				t.Errorf("%s got an event %s after its DELETE returned", h.id, a.Sub(h.removed))
			}
			if evs[i].OccurredAt.Before(h.created.Add(-time.Second)) {
				t.Errorf("%s got an event from %s, before its creation at %s", h.id, evs[i].OccurredAt, h.created)
			}
		}
	}
	t.Logf("%d deliveries to %d webhooks before their deletion", total, len(hooks))
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	var cursors, letters int
	if err := meta.DB().QueryRow("SELECT COUNT(*) FROM event_cursors WHERE sink LIKE 'webhook:%'").Scan(&cursors); err != nil {
		t.Fatal(err)
	}
	if err := meta.DB().QueryRow("SELECT COUNT(*) FROM webhook_dead_letters").Scan(&letters); err != nil {
		t.Fatal(err)
	}
	if cursors != 0 || letters != 0 {
		t.Errorf("%d cursors and %d dead letters left behind by deleted webhooks", cursors, letters)
	}
	c.RequireInvariants(t, false)
}

// A new webhook receives the changes made after its creation and none from before.
func TestNewWebhookStartsAtItsCreation(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, eventsConfig(configs.Default().Events))
	for i := 0; i < 20; i++ {
		g.Product(fmt.Sprintf("OLD-%d", i), 0, "2")
	}
	rcv := newHits(t)
	g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL + "/new", "secret": "0123456789abcdef"}), 201, "")
	g.Product("NEW-1", 0, "3")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, evs := rcv.get("/new"); len(evs) >= 3 { // product.updated, stock.changed, stock.restored or the like
			break
		}
		if time.Now().After(deadline) {
			_, evs := rcv.get("/new")
			t.Fatalf("the new webhook got %d events of NEW-1", len(evs))
		}
	}
	time.Sleep(300 * time.Millisecond)
	_, evs := rcv.get("/new")
	for _, ev := range evs {
		if ev.SKU != "NEW-1" {
			t.Errorf("the new webhook got an event from before its creation: %s %s", ev.Type, ev.SKU)
		}
	}
}

// A DELETE that waits for a slow delivery in flight (longer than meta.timeout) still succeeds:
// the wait is for the webhook's hold, not a metadata store that does not answer, so it is
// neither 503 meta_unavailable nor a failure that opens the breaker (the webhook list answers
// right after it).
func TestDeleteWaitingForASlowDeliveryIsNotMetaUnavailable(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 1, Partitions: 8})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) {
		eventsConfig(configs.Default().Events)(cfg)
		cfg.Meta = configs.Default().Meta // 500ms
	})
	arrived := make(chan struct{}, 16)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		arrived <- struct{}{}
		time.Sleep(1500 * time.Millisecond)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer slow.Close()
	wh := g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": slow.URL + "/slow", "secret": "0123456789abcdef"}), 201, "")
	g.Product("SLOWDEL-1", 0, "1")
	select {
	case <-arrived:
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery reached the slow receiver")
	}
	start := time.Now()
	r := g.Do("DELETE", "/v1/webhooks/"+wh.Str("id"), nil)
	took := time.Since(start)
	if r.Status != 200 {
		t.Fatalf("DELETE with a delivery in flight: %d %s after %s, want 200", r.Status, r.Raw, took)
	}
	t.Logf("DELETE waited %s for the delivery in flight", took.Round(time.Millisecond))
	g.Expect(g.Do("GET", "/v1/webhooks", nil), 200, "")
}
