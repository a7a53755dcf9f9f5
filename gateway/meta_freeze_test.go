package gateway_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
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

// With the metadata store frozen (SIGSTOP), every endpoint of the route table answers within a
// second: product, stock, reservation and report traffic as usual on the cached topology, the
// topology from the cache (cached: true), the webhook and event endpoints 503 meta_unavailable
// with Retry-After. After the thaw the store is used again.
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

	if err := metaSrv.Freeze(); err != nil {
		t.Fatal(err)
	}
	defer metaSrv.Thaw()
	var slowest time.Duration
	var timings []string
	for pass := range 2 { // the first pass meets the timeout, the second the open breaker
		for _, ep := range gateway.Endpoints() {
			for _, key := range keyVariants(ep, pass) {
				start := time.Now()
				r, err := g.Try(ep.Method, f.path(ep.Path), f.body(ep.Method, ep.Path), key...)
				took := time.Since(start)
				slowest = max(slowest, took)
				timings = append(timings, fmt.Sprintf("%s %s%s: %d in %s", ep.Method, ep.Path, keyNote(key), r.Status, took.Round(time.Millisecond)))
				switch {
				case err != nil:
					t.Errorf("%s %s: %v", ep.Method, ep.Path, err)
				case took > time.Second:
					t.Errorf("%s %s answered after %s with the metadata store frozen, want within 1s", ep.Method, ep.Path, took)
				case needsMeta(ep.Path) && (r.Status != 503 || r.ErrorCode() != "meta_unavailable" || r.Header.Get("Retry-After") == ""):
					t.Errorf("%s %s: %d %s, want 503 meta_unavailable with Retry-After", ep.Method, ep.Path, r.Status, r.Raw)
				case !needsMeta(ep.Path) && r.Status >= 500:
					t.Errorf("%s %s needs no metadata store but answered %d %s", ep.Method, ep.Path, r.Status, r.Raw)
				case ep.Path == "/v1/topology" && (r.Body["cached"] != true || r.Num("version") != "1"):
					t.Errorf("topology with the store frozen: %s, want the cached topology", r.Raw)
				}
			}
		}
	}
	sort.Strings(timings)
	t.Logf("slowest answer with the metadata store frozen: %s\n%s", slowest.Round(time.Millisecond), strings.Join(timings, "\n"))

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

// keyVariants sends keyed routes with and without an Idempotency-Key (a fresh one per pass).
func keyVariants(ep gateway.Endpoint, pass int) [][]string {
	if !ep.Idempotent {
		return [][]string{nil}
	}
	return [][]string{nil, {"Idempotency-Key", fmt.Sprintf("frozen-%d-%s-%s", pass, ep.Method, ep.Path)}}
}

func keyNote(key []string) string {
	if key == nil {
		return ""
	}
	return " (keyed)"
}
