package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// freezeFixture is what the frozen-metadata-store test sends to every endpoint.
type freezeFixture struct {
	sku, reservation, webhook, alert string
}

// path fills a route template's variables.
func (f freezeFixture) path(tpl string) string {
	id := f.reservation
	switch {
	case strings.HasPrefix(tpl, "/v1/webhooks/"):
		id = f.webhook
	case strings.HasPrefix(tpl, "/v1/alerts/"):
		id = f.alert
	}
	return strings.NewReplacer("{sku}", f.sku, "{id}", id).Replace(tpl)
}

// body is a valid body for the route (or none).
func (f freezeFixture) body(method, tpl string) string {
	switch {
	case method == "PUT" && tpl == "/v1/products/{sku}":
		return `{"category":"frozen"}`
	case strings.HasSuffix(tpl, "/adjustments"):
		return `{"delta":1,"reason":"receive"}`
	case strings.HasSuffix(tpl, "/stock"):
		return `{"on_hand":500}`
	case strings.HasSuffix(tpl, "/lots"):
		return fmt.Sprintf(`{"lot":"L1","quantity":1,"expires_at":%q}`, time.Now().Add(240*time.Hour).UTC().Format(time.RFC3339))
	case tpl == "/v1/reservations":
		return `{"order_id":"frozen","lines":[{"sku":"` + f.sku + `","quantity":1}]}`
	case tpl == "/v1/webhooks":
		return `{"url":"http://127.0.0.1:9/hook","secret":"0123456789abcdef"}`
	case strings.HasSuffix(tpl, "/redeliver"):
		return `{"after":""}`
	}
	return ""
}

// needsMeta reports whether the route reads or writes the metadata store.
func needsMeta(tpl string) bool {
	return strings.HasPrefix(tpl, "/v1/webhooks") || tpl == "/v1/events"
}

// With the metadata store frozen (SIGSTOP), every route the gateway serves (the route table and
// the event stream, health and metrics) answers an authenticated request within a second:
// product, stock, reservation, history and report traffic as usual on the cached topology and
// the cached API keys, the topology from the cache (cached: true), the webhook and event
// endpoints 503 meta_unavailable with Retry-After. The key cache's refresh meets the meta
// timeout and breaker and keeps the keys it has: a valid key is still accepted, an unknown one
// still refused; the event relay's calls fail fast through the same guard. After the thaw the
// store is used again.
func TestFrozenMetaStoreEveryEndpointAnswersFast(t *testing.T) {
	metaSrv := testdb.StartServer(t)
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 16, MetaDSN: metaSrv.DSN("shardstock_meta")})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Meta = configs.Default().Meta })
	f := freezeFixture{sku: "FROZEN-1"}
	g.Expect(g.Do("PUT", "/v1/products/"+f.sku, `{"name":"Frozen","low_stock_threshold":1000000}`), 201, "")
	g.Expect(g.Do("POST", "/v1/products/"+f.sku+"/adjustments", `{"delta":1000,"reason":"receive"}`), 200, "")
	f.reservation = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"`+f.sku+`","quantity":1}]}`), 201, "").Str("id")
	f.webhook = g.Expect(g.Do("POST", "/v1/webhooks", f.body("POST", "/v1/webhooks")), 201, "").Str("id")
	alerts := g.Expect(g.Do("GET", "/v1/alerts", nil), 200, "")
	if list, _ := alerts.Body["alerts"].([]any); len(list) > 0 {
		f.alert, _ = list[0].(map[string]any)["id"].(string)
	}
	if f.alert == "" {
		t.Fatalf("no alert to acknowledge: %s", alerts.Raw)
	}
	if r := g.Do("GET", "/v1/topology", nil); r.Body["cached"] != false {
		t.Fatalf("topology before the freeze: %s", r.Raw)
	}
	routes := g.Server.RoutesForTest()

	if err := metaSrv.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer metaSrv.Thaw()
	frozenAt := time.Now()
	var slowest time.Duration
	var timings []string
	for pass := range 2 { // the first pass meets the timeout, the second the open breaker
		for _, rt := range routes {
			for _, key := range keyVariants(rt, pass) {
				start := time.Now()
				r, err := sendFrozen(g, f, rt, key)
				took := time.Since(start)
				slowest = max(slowest, took)
				timings = append(timings, fmt.Sprintf("%s %s%s: %d in %s", rt.Method, rt.Path, keyNote(key), r.Status, took.Round(time.Millisecond)))
				if err != nil {
					t.Errorf("%s %s: %v", rt.Method, rt.Path, err)
				} else if took > time.Second {
					t.Errorf("%s %s answered after %s with the metadata store frozen, want within 1s", rt.Method, rt.Path, took)
				} else if msg := frozenAnswerProblem(rt, r); msg != "" {
					t.Errorf("%s %s: %d %s: %s", rt.Method, rt.Path, r.Status, r.Raw, msg)
				}
			}
		}
	}
	sort.Strings(timings)
	t.Logf("slowest answer with the metadata store frozen: %s\n%s", slowest.Round(time.Millisecond), strings.Join(timings, "\n"))
	requireKeysServedFromCache(t, g, frozenAt)

	if err := metaSrv.Thaw(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := g.Do("GET", "/v1/webhooks", nil)
		top := g.Do("GET", "/v1/topology", nil)
		if r.Status == 200 && top.Body["cached"] == false {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("15s after the thaw: webhooks %d %s, topology %s", r.Status, r.Raw, top.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.RequireInvariants(t, true)
}

// sendFrozen sends the route's request; the event stream is read up to its first bytes (it
// does not end by itself).
func sendFrozen(g *clustertest.Gateway, f freezeFixture, rt gateway.RouteForTest, key []string) (clustertest.Response, error) {
	if rt.Path != "/v1/events/stream" {
		return g.Try(rt.Method, f.path(rt.Path), f.body(rt.Method, rt.Path), key...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", g.HTTP.URL+rt.Path, nil)
	if err != nil {
		return clustertest.Response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := g.HTTP.Client().Do(req)
	if err != nil {
		return clustertest.Response{}, err
	}
	defer resp.Body.Close()
	first := make([]byte, len("retry:"))
	if _, err := io.ReadFull(resp.Body, first); err != nil {
		return clustertest.Response{}, fmt.Errorf("event stream: no first bytes: %w", err)
	}
	return clustertest.Response{Status: resp.StatusCode, Header: resp.Header, Raw: first}, nil
}

// frozenAnswerProblem says what is wrong with a route's answer while the metadata store is
// frozen ("" when nothing is).
func frozenAnswerProblem(rt gateway.RouteForTest, r clustertest.Response) string {
	switch {
	case needsMeta(rt.Path) && (r.Status != 503 || r.ErrorCode() != "meta_unavailable" || r.Header.Get("Retry-After") == ""):
		return "want 503 meta_unavailable with Retry-After"
	case needsMeta(rt.Path):
		return ""
	case r.Status >= 500:
		return "needs no metadata store but failed"
	case r.Status == 401 || r.Status == 403:
		return "the cached API key was refused"
	case rt.Path == "/v1/topology" && (r.Body["cached"] != true || r.Num("version") != "1"):
		return "want the cached topology"
	}
	return ""
}

// requireKeysServedFromCache checks, once the store has been frozen for longer than the key
// cache's refresh interval and timeout, that the cache's refreshes went through the meta
// timeout and breaker (counted as keys_version failures), and so did the relay's, and that
// authentication still answers from the cached keys: the admin key accepted, an unknown key
// 401, both within a second.
func requireKeysServedFromCache(t *testing.T, g *clustertest.Gateway, frozenAt time.Time) {
	t.Helper()
	if wait := 3*time.Second - time.Since(frozenAt); wait > 0 {
		time.Sleep(wait) // a few refresh intervals (1s) and more than one refresh timeout
	}
	fresh, err := auth.Generate() // well-formed, in no store
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []struct {
		name, token string
		want        int
	}{{"the admin key", g.Token, 200}, {"an unknown key", fresh.Token, 401}} {
		start := time.Now()
		r := g.As(k.token).Do("GET", "/v1/products/FROZEN-1", nil)
		if took := time.Since(start); took > time.Second || r.Status != k.want {
			t.Errorf("%s with the store frozen for %s: %d %s in %s, want %d within 1s",
				k.name, time.Since(frozenAt).Round(time.Millisecond), r.Status, r.Raw, took, k.want)
		}
	}
	m := g.Do("GET", "/metrics", nil)
	if m.Status != 200 || !strings.Contains(string(m.Raw), `shardstock_meta_failures_total{op="keys_version"}`) {
		t.Errorf("the key cache's refresh did not go through the meta timeout and breaker (no keys_version failures counted): %d", m.Status)
	}
	// The writes above moved a shard's change log: its relay saved the horizon through the
	// guard too (failing fast instead of holding its loop).
	if !strings.Contains(string(m.Raw), `shardstock_meta_failures_total{op="set_relay_horizon"}`) {
		t.Errorf("the event relay did not go through the meta timeout and breaker (no set_relay_horizon failures counted)")
	}
}

// keyVariants sends keyed routes with and without an Idempotency-Key (a fresh one per pass).
func keyVariants(rt gateway.RouteForTest, pass int) [][]string {
	if !rt.Idempotent {
		return [][]string{nil}
	}
	return [][]string{nil, {"Idempotency-Key", fmt.Sprintf("frozen-%d-%s-%s", pass, rt.Method, rt.Path)}}
}

func keyNote(key []string) string {
	if key == nil {
		return ""
	}
	return " (keyed)"
}
