package gateway_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// natsURL is the JetStream server the event tests publish to (tools/ensure-nats.sh provides one).
var natsURL = func() string {
	if u := os.Getenv("SHARDSTOCK_TEST_NATS"); u != "" {
		return u
	}
	return "nats://127.0.0.1:4222"
}()

// received is one event as a sink got it.
type received struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	SKU        string         `json:"sku"`
	Data       map[string]any `json:"data"`
	at         time.Time
	raw        string
}

// orderKey is what events are ordered by: the SKU, or the reservation for header events.
func (r received) orderKey() string {
	if r.SKU != "" {
		return "sku:" + r.SKU
	}
	id, _ := r.Data["reservation_id"].(string)
	return "reservation:" + id
}

// receiver is a webhook endpoint that checks the signature of every delivery, fails the first
// failFirst requests and then a fraction failRate of them, and records what it accepted.
type receiver struct {
	t         testing.TB
	secret    string
	failFirst int
	failRate  float64
	reject    func(received) bool // refuse matching events (dead-letter tests)

	mu       sync.Mutex
	requests int
	failed   int
	got      []received
	srv      *httptest.Server
}

func newReceiver(t testing.TB, secret string, failFirst int, failRate float64) *receiver {
	r := &receiver{t: t, secret: secret, failFirst: failFirst, failRate: failRate}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	at := time.Now()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		w.WriteHeader(400)
		return
	}
	m := hmac.New(sha256.New, []byte(r.secret))
	m.Write(body)
	if want := "sha256=" + hex.EncodeToString(m.Sum(nil)); !hmac.Equal([]byte(req.Header.Get("X-Shardstock-Signature")), []byte(want)) {
		r.t.Errorf("bad signature %q on %s", req.Header.Get("X-Shardstock-Signature"), body)
		w.WriteHeader(401)
		return
	}
	var ev received
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID == "" || ev.Type == "" || ev.OccurredAt.IsZero() {
		r.t.Errorf("bad event body %s: %v", body, err)
		w.WriteHeader(400)
		return
	}
	if req.Header.Get("X-Shardstock-Event-Id") != ev.ID {
		r.t.Errorf("event id header %q, body %q", req.Header.Get("X-Shardstock-Event-Id"), ev.ID)
	}
	ev.at, ev.raw = at, string(body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	if r.requests <= r.failFirst || rand.Float64() < r.failRate || r.reject != nil && r.reject(ev) {
		r.failed++
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	r.got = append(r.got, ev)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) events() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// natsCollector reads every message of the test's stream with an ordered consumer.
type natsCollector struct {
	mu  sync.Mutex
	got []received
}

// startNATS connects to the local nats-server (the test fails, never skips, without it) and
// returns the event configuration for a stream and subject prefix of this test alone.
func startNATS(t *testing.T) (configs.Events, *natsCollector) {
	t.Helper()
	nc, err := nats.Connect(natsURL, nats.Timeout(2*time.Second))
	if err != nil {
		t.Fatalf("nats-server with JetStream must run at %s for this test (it does on dev machines and in CI): %v", natsURL, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d_%d", time.Now().UnixNano(), rand.IntN(1e6))
	ev := configs.Default().Events
	ev.NATSURL, ev.NATSStream, ev.NATSSubjectPrefix = natsURL, "SSTEST_"+suffix, "sstest_"+suffix
	t.Cleanup(func() { _ = js.DeleteStream(context.Background(), ev.NATSStream) })
	// The gateway creates the stream when it first publishes; create it here too so that the
	// consumer can start first (both sides accept an existing stream).
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: ev.NATSStream, Subjects: []string{ev.NATSSubjectPrefix + ".>"},
		Duplicates: 2 * time.Minute}); err != nil {
		t.Fatalf("create stream: %v", err)
	}
	cons, err := js.OrderedConsumer(ctx, ev.NATSStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	col := &natsCollector{}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var r received
		if err := json.Unmarshal(m.Data(), &r); err != nil {
			t.Errorf("nats message %s: %v", m.Data(), err)
			return
		}
		if want := ev.NATSSubjectPrefix + "." + r.Type; m.Subject() != want {
			t.Errorf("subject %s, want %s", m.Subject(), want)
		}
		if m.Headers().Get("Nats-Msg-Id") != r.ID {
			t.Errorf("Nats-Msg-Id %q, event %q", m.Headers().Get("Nats-Msg-Id"), r.ID)
		}
		r.at, r.raw = time.Now(), string(m.Data())
		col.mu.Lock()
		col.got = append(col.got, r)
		col.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return ev, col
}

func (c *natsCollector) events() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// expectedEvents reads every shard's change log: the ids of the changes that publish an event,
// per order key in the order they must be delivered.
func expectedEvents(t *testing.T, c *clustertest.Cluster) (map[string]bool, map[string][]string) {
	t.Helper()
	ids := map[string]bool{}
	order := map[string][]string{}
	for name, st := range c.Stores(t) {
		rows, err := st.DB().Query(`SELECT seq, sku, kind, delta_on_hand, delta_reserved, ref,
			COALESCE(origin_shard, ?), COALESCE(origin_seq, seq) FROM changes ORDER BY seq`, name)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var seq, oseq uint64
			var sku, kind, ref, oshard string
			var dOn, dRes int64
			if err := rows.Scan(&seq, &sku, &kind, &dOn, &dRes, &ref, &oshard, &oseq); err != nil {
				t.Fatal(err)
			}
			if shard.EventType(inventory.ChangeKind(kind), dOn, dRes) == "" {
				continue
			}
			id := shard.EventID(oshard, oseq)
			ids[id] = true
			key := "sku:" + sku
			if sku == "" {
				key = "reservation:" + ref
			}
			order[key] = append(order[key], id)
		}
		rows.Close()
	}
	return ids, order
}

// checkDelivery verifies that a sink got every expected event, nothing else, duplicates only as
// identical copies, and the first copy of each event in per-key order.
func checkDelivery(t *testing.T, sink string, got []received, ids map[string]bool, order map[string][]string) {
	t.Helper()
	first := map[string]received{}
	var seq []received
	dups := 0
	for _, r := range got {
		if f, ok := first[r.ID]; ok {
			dups++
			if f.raw != r.raw {
				t.Errorf("%s: duplicate %s differs:\n%s\n%s", sink, r.ID, f.raw, r.raw)
			}
			continue
		}
		first[r.ID] = r
		seq = append(seq, r)
		if !ids[r.ID] {
			t.Errorf("%s: unexpected event %s", sink, r.raw)
		}
	}
	missing := 0
	for id := range ids {
		if _, ok := first[id]; !ok {
			missing++
			if missing <= 5 {
				t.Errorf("%s: event %s never delivered", sink, id)
			}
		}
	}
	byKey := map[string][]string{}
	for _, r := range seq {
		byKey[r.orderKey()] = append(byKey[r.orderKey()], r.ID)
	}
	for key, want := range order {
		if !slices.Equal(byKey[key], want) && missing == 0 {
			t.Errorf("%s: %s delivered in order\n%v\nwant\n%v", sink, key, byKey[key], want)
		}
	}
	t.Logf("%s: %d events, %d duplicates (same id and body)", sink, len(first), dups)
}

// waitDelivered polls until every expected event reached the sink.
func waitDelivered(t *testing.T, what string, timeout time.Duration, ids map[string]bool, got func() []received) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		seen := map[string]bool{}
		for _, r := range got() {
			seen[r.ID] = true
		}
		n := 0
		for id := range ids {
			if seen[id] {
				n++
			}
		}
		if n == len(ids) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d events delivered after %s", what, n, len(ids), timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func latencies(got []received, from, to time.Time) (p50, p99 time.Duration, n int) {
	seen := map[string]bool{}
	var ds []time.Duration
	for _, r := range got {
		if seen[r.ID] || r.OccurredAt.Before(from) || r.OccurredAt.After(to) {
			continue
		}
		seen[r.ID] = true
		ds = append(ds, r.at.Sub(r.OccurredAt))
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], len(ds)
}

func eventsConfig(ev configs.Events) func(*configs.Config) {
	return func(cfg *configs.Config) {
		cfg.Events = ev
		cfg.Events.RelayPollInterval = 20 * time.Millisecond
		cfg.Events.GapGrace = 500 * time.Millisecond
		cfg.Events.WebhookBackoff = 10 * time.Millisecond
		cfg.Events.WebhookMaxBackoff = 200 * time.Millisecond
		cfg.Events.WebhookMaxAttempts = 1000
		cfg.Events.WebhookTimeout = 2 * time.Second
	}
}

func waitRelays(t *testing.T, shards int, timeout time.Duration, gws ...*clustertest.Gateway) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		held := map[string]int{}
		for _, g := range gws {
			for _, s := range g.Server.RelaysHeld() {
				held[s]++
			}
		}
		ok := len(held) == shards
		for s, n := range held {
			if n > 1 {
				t.Fatalf("shard %s relayed by %d gateways at once", s, n)
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("relays held %v after %s, want all %d shards", held, timeout, shards)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Every change under concurrent load becomes exactly one event (repeated only as the same id),
// received in per-SKU order by a webhook that fails its first attempts and some later ones and
// by a JetStream consumer, while the gateway running the relays is killed mid-delivery and
// another takes over.
func TestEventsDeliveredOnceInOrderAcrossFailover(t *testing.T) {
	evCfg, col := startNATS(t)
	c := clustertest.New(t, clustertest.Options{Shards: 3})
	g1 := c.StartGateway(t, gateway.Options{}, eventsConfig(evCfg))
	g2 := c.StartGateway(t, gateway.Options{}, eventsConfig(evCfg))
	waitRelays(t, 3, 5*time.Second, g1, g2)

	const secret = "a-secret-of-sixteen-or-more"
	rcv := newReceiver(t, secret, 5, 0.1)
	wh := g1.Expect(g1.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL, "secret": secret}), 201, "")
	if wh.Str("id") == "" || strings.Contains(string(wh.Raw), secret) {
		t.Fatalf("webhook: %s", wh.Raw)
	}

	w := clustertest.NewWorkload(t, []*clustertest.Client{g1.Client, g2.Client}, 12, 40)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	wait := w.Run(ctx, t, 8)
	time.Sleep(1500 * time.Millisecond)
	victim, survivor := g1, g2
	if len(g2.Server.RelaysHeld()) > len(g1.Server.RelaysHeld()) {
		victim, survivor = g2, g1
	}
	held := victim.Server.RelaysHeld()
	if len(held) == 0 {
		t.Fatal("neither gateway holds a relay")
	}
	victim.Close() // mid-load, mid-delivery: in-flight webhook posts are cancelled
	t.Logf("closed the gateway relaying %v after %s", held, time.Since(start).Round(time.Millisecond))
	waitRelays(t, 3, 5*time.Second, survivor)
	wait()
	loadEnd := time.Now()
	c.EventuallyInvariants(t, true, 30*time.Second)

	ids, order := expectedEvents(t, c)
	waitDelivered(t, "webhook", 30*time.Second, ids, rcv.events)
	waitDelivered(t, "nats", 30*time.Second, ids, col.events)
	time.Sleep(200 * time.Millisecond) // let late duplicates arrive before checking them
	checkDelivery(t, "webhook", rcv.events(), ids, order)
	checkDelivery(t, "nats", col.events(), ids, order)
	rcv.mu.Lock()
	t.Logf("webhook receiver: %d requests, %d refused; workload: %d requests, %d retried",
		rcv.requests, rcv.failed, w.Requests.Load(), w.Retries.Load())
	rcv.mu.Unlock()
	p50, p99, n := latencies(rcv.events(), start, loadEnd)
	t.Logf("webhook latency with 10%% refused deliveries and a failover: p50 %s p99 %s over %d events", p50, p99, n)
}

// Delivery latency, change committed (occurred_at) → webhook received, under concurrent load
// with a healthy receiver. Figures only; nothing is asserted about time.
func TestEventDeliveryLatency(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 3})
	ev := configs.Default().Events
	g := c.StartGateway(t, gateway.Options{}, eventsConfig(ev))
	waitRelays(t, 3, 5*time.Second, g)
	const secret = "latency-secret-0123456789"
	rcv := newReceiver(t, secret, 0, 0)
	g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL, "secret": secret}), 201, "")
	w := clustertest.NewWorkload(t, []*clustertest.Client{g.Client}, 24, 1000)
	// The relays pick a new webhook up within a second; measure from when it is live.
	for deadline := time.Now().Add(5 * time.Second); len(rcv.events()) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the webhook got nothing")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	start := time.Now()
	w.Run(ctx, t, 16)()
	end := time.Now()
	ids, order := expectedEvents(t, c)
	waitDelivered(t, "webhook", 30*time.Second, ids, rcv.events)
	checkDelivery(t, "webhook", rcv.events(), ids, order)
	for name, st := range c.Stores(t) {
		var maxSeq, rows int64
		_ = st.DB().QueryRow("SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM changes").Scan(&maxSeq, &rows)
		t.Logf("%s: %d change rows, %d seqs never committed", name, rows, maxSeq-rows)
	}
	p50, p99, n := latencies(rcv.events(), start, end)
	t.Logf("delivery latency (relay poll %s) over %d events at %.0f changes/s: p50 %s p99 %s",
		20*time.Millisecond, n, float64(n)/end.Sub(start).Seconds(), p50, p99)
}

// sseClient reads an event stream.
type sseEvent struct{ id, typ, data string }

func readSSE(t *testing.T, g *clustertest.Gateway, lastID string, n int, timeout time.Duration) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", g.HTTP.URL+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+g.Token)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			cur.typ = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data = strings.TrimPrefix(line, "data: ")
		}
	}
	if len(out) < n {
		t.Fatalf("stream gave %d of %d events before %s", len(out), n, timeout)
	}
	return out
}

func sseReceived(t *testing.T, evs []sseEvent) []received {
	t.Helper()
	var out []received
	for _, e := range evs {
		var r received
		if err := json.Unmarshal([]byte(e.data), &r); err != nil || r.Type != e.typ {
			t.Fatalf("sse event %+v: %v", e, err)
		}
		r.raw = e.data
		out = append(out, r)
	}
	return out
}

// Polling walks the merged change events page by page with the cursor, and the SSE stream
// resumes after the last event it delivered (Last-Event-ID).
func TestEventsPollingAndStreamResume(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 3})
	g := c.StartGateway(t, gateway.Options{}, eventsConfig(configs.Default().Events))
	skus := c.SKUsPerShard(t, "EV")
	for _, s := range skus {
		g.Product(s, 2, "10.5")
	}
	g.Expect(g.Do("POST", "/v1/products/"+skus[0]+"/adjustments", `{"delta": -1.25, "reason": "damage"}`), 200, "")
	r := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o1","lines":[{"sku":"`+skus[0]+`","quantity":1},{"sku":"`+skus[1]+`","quantity":2}]}`), 201, "")
	g.Expect(g.Do("POST", "/v1/reservations/"+r.Str("id")+"/commit", nil), 200, "")
	r = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o2","lines":[{"sku":"`+skus[2]+`","quantity":3}]}`), 201, "")
	g.Expect(g.Do("POST", "/v1/reservations/"+r.Str("id")+"/release", nil), 200, "")
	ids, order := expectedEvents(t, c)

	poll := func() []received {
		var all []received
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			resp := g.Expect(g.Do("GET", "/v1/events?limit=3&after="+cursor, nil), 200, "")
			var page struct {
				Events     []json.RawMessage `json:"events"`
				NextCursor string            `json:"next_cursor"`
			}
			if err := json.Unmarshal(resp.Raw, &page); err != nil {
				t.Fatal(err)
			}
			if len(page.Events) > 3 {
				t.Fatalf("page of %d events with limit 3", len(page.Events))
			}
			for _, raw := range page.Events {
				var ev received
				_ = json.Unmarshal(raw, &ev)
				ev.raw = string(raw)
				all = append(all, ev)
			}
			cursor = page.NextCursor
			if len(page.Events) == 0 {
				break
			}
		}
		return all
	}
	waitDelivered(t, "poll", 10*time.Second, ids, poll)
	got := poll()
	if len(got) != len(ids) {
		t.Errorf("polling returned %d events for %d changes", len(got), len(ids))
	}
	checkDelivery(t, "poll", got, ids, order)
	if bad := g.Do("GET", "/v1/events?after=not*a*cursor", nil); bad.Status != 422 {
		t.Errorf("bad cursor: %d %s", bad.Status, bad.Raw)
	}

	// SSE: read part of the stream, reconnect with Last-Event-ID, read the rest.
	half := len(ids) / 2
	a := readSSE(t, g, "", half, 10*time.Second)
	b := readSSE(t, g, a[len(a)-1].id, len(ids)-half, 10*time.Second)
	checkDelivery(t, "sse", sseReceived(t, append(a, b...)), ids, order)

	// A live stream gets new changes.
	done := make(chan []sseEvent)
	go func() { done <- readSSE(t, g, b[len(b)-1].id, 1, 10*time.Second) }()
	time.Sleep(100 * time.Millisecond)
	g.Expect(g.Do("POST", "/v1/products/"+skus[1]+"/adjustments", `{"delta": 2, "reason": "receive"}`), 200, "")
	live := sseReceived(t, <-done)
	if live[0].Type != shard.EventStockChanged || live[0].SKU != skus[1] || fmt.Sprint(live[0].Data["delta_on_hand"]) != "2" {
		t.Errorf("live event: %s", live[0].raw)
	}
}

// A webhook that keeps refusing an event gets it dead-lettered after the configured attempts
// (later events flow again); redelivery from the dead letter's cursor sends it again.
func TestWebhookDeadLetterAndRedeliver(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) {
		eventsConfig(configs.Default().Events)(cfg)
		cfg.Events.WebhookMaxAttempts = 3
	})
	const secret = "dead-letter-secret-123"
	rcv := newReceiver(t, secret, 0, 0)
	rcv.reject = func(r received) bool { return r.SKU == "DL-bad" }

	for _, tc := range []struct{ body, field string }{
		{`{"url":"ftp://x","secret":"` + secret + `"}`, "url"},
		{`{"url":"` + rcv.srv.URL + `","secret":"short"}`, "secret"},
		{`{"url":"` + rcv.srv.URL + `","secret":"` + secret + `","event_types":["stock.exploded"]}`, "event_types"},
	} {
		r := g.Expect(g.Do("POST", "/v1/webhooks", tc.body), 422, "validation_failed")
		if d, _ := r.Body["error"].(map[string]any)["details"].(map[string]any); d["field"] != tc.field {
			t.Errorf("%s: %s", tc.body, r.Raw)
		}
	}
	wh := g.Expect(g.Do("POST", "/v1/webhooks", map[string]any{"url": rcv.srv.URL, "secret": secret,
		"event_types": []string{"stock.changed", "product.updated"}}), 201, "")
	id := wh.Str("id")
	g.Product("DL-bad", 0, "5")
	g.Product("DL-good", 0, "7")

	var dead struct {
		DeadLetters []struct {
			EventID        string          `json:"event_id"`
			Attempts       int             `json:"attempts"`
			Event          json.RawMessage `json:"event"`
			RedeliverAfter string          `json:"redeliver_after"`
		} `json:"dead_letters"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(dead.DeadLetters) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("dead letters: %+v", dead)
		}
		time.Sleep(50 * time.Millisecond)
		r := g.Expect(g.Do("GET", "/v1/webhooks/"+id+"/dead-letters", nil), 200, "")
		_ = json.Unmarshal(r.Raw, &dead)
	}
	for _, d := range dead.DeadLetters {
		if d.Attempts != 3 || !strings.Contains(string(d.Event), `"sku":"DL-bad"`) {
			t.Errorf("dead letter %+v %s", d, d.Event)
		}
	}
	goodIDs := func() int {
		n := 0
		for _, r := range rcv.events() {
			if r.SKU == "DL-good" {
				n++
			}
		}
		return n
	}
	for deadline := time.Now().Add(10 * time.Second); goodIDs() < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("DL-good events after the dead letters: %d", goodIDs())
		}
	}

	// The receiver is fixed: redeliver from the first dead letter.
	rcv.mu.Lock()
	rcv.reject = nil
	rcv.mu.Unlock()
	g.Expect(g.Do("POST", "/v1/webhooks/"+id+"/redeliver", map[string]any{"after": dead.DeadLetters[0].RedeliverAfter}), 202, "")
	want := map[string]bool{dead.DeadLetters[0].EventID: true, dead.DeadLetters[1].EventID: true}
	waitDelivered(t, "redelivery", 10*time.Second, want, rcv.events)

	list := g.Expect(g.Do("GET", "/v1/webhooks", nil), 200, "")
	if !strings.Contains(string(list.Raw), id) || strings.Contains(string(list.Raw), secret) {
		t.Errorf("list: %s", list.Raw)
	}
	g.Expect(g.Do("DELETE", "/v1/webhooks/"+id, nil), 200, "")
	g.Expect(g.Do("GET", "/v1/webhooks/"+id, nil), 404, "not_found")
	g.Expect(g.Do("DELETE", "/v1/webhooks/"+id, nil), 404, "not_found")
}
