package gateway_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// snapshot captures everything a rejected request must leave alone: every product and the
// number of rows in each shard's change log, reservations and idempotency tables.
func snapshot(t *testing.T, c *clustertest.Cluster, g *clustertest.Gateway, skus []string) string {
	t.Helper()
	return snapshotWith(t, c, c.Stores(t), g, skus)
}

// snapshotWith is snapshot over stores already open.
func snapshotWith(t *testing.T, c *clustertest.Cluster, stores map[string]*shard.Store, g *clustertest.Gateway, skus []string) string {
	t.Helper()
	q := "/v1/products?sku=" + strings.Join(skus, "&sku=")
	r := g.Expect(g.Do("GET", q, nil), 200, "")
	var b strings.Builder
	b.Write(r.Raw)
	for _, s := range c.Shards {
		for _, table := range []string{"changes", "reservations", "reservation_lines", "products", "applied_requests"} {
			var n int
			if err := stores[s.Name].DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, " %s.%s=%d", s.Name, table, n)
		}
	}
	return b.String()
}

func TestErrorsChangeNothing(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "E")
	a, b, d := skus[0], skus[1], skus[2]
	g.Product(a, 0, "10")
	g.Product(b, 2, "5.5")
	g.Product(d, 0, "1")
	held := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o-held","lines":[{"sku":"`+a+`","quantity":4}]}`), 201, "")
	committed := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o-c","lines":[{"sku":"`+a+`","quantity":1}],"commit":true}`), 201, "")
	released := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o-r","lines":[{"sku":"`+b+`","quantity":1}]}`), 201, "")
	g.Expect(g.Do("POST", "/v1/reservations/"+released.Str("id")+"/release", nil), 200, "")
	_ = held

	big := `{"name":"` + strings.Repeat("x", 2<<20) + `"}`
	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code                     string
	}{
		{"malformed json", "PUT", "/v1/products/" + a, `{"name":`, nil, 400, "invalid_request"},
		{"unknown field", "PUT", "/v1/products/" + a, `{"name":"x","colour":"red"}`, nil, 400, "invalid_request"},
		{"wrong type", "PUT", "/v1/products/" + a, `{"name":"x","scale":"2"}`, nil, 400, "invalid_request"},
		{"quantity as string", "POST", "/v1/products/" + a + "/adjustments", `{"delta":"1","reason":"receive"}`, nil, 400, "invalid_request"},
		{"trailing data", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1,"reason":"receive"} {}`, nil, 400, "invalid_request"},
		{"empty body", "POST", "/v1/products/" + a + "/adjustments", ``, nil, 400, "invalid_request"},
		{"array body", "POST", "/v1/reservations", `[]`, nil, 400, "invalid_request"},
		{"too large", "PUT", "/v1/products/" + a, big, nil, 413, "payload_too_large"},
		{"bad sku", "PUT", "/v1/products/bad%20sku", `{"name":"x"}`, nil, 422, "validation_failed"},
		{"sku too long", "GET", "/v1/products/" + strings.Repeat("a", 65), ``, nil, 422, "validation_failed"},
		{"missing name", "PUT", "/v1/products/NEW-1", `{"category":"x"}`, nil, 422, "validation_failed"},
		{"scale too big", "PUT", "/v1/products/NEW-1", `{"name":"x","scale":7}`, nil, 422, "validation_failed"},
		{"negative scale", "PUT", "/v1/products/NEW-1", `{"name":"x","scale":-1}`, nil, 422, "validation_failed"},
		{"threshold decimals", "PUT", "/v1/products/NEW-1", `{"name":"x","scale":1,"low_stock_threshold":0.25}`, nil, 422, "validation_failed"},
		{"negative threshold", "PUT", "/v1/products/NEW-1", `{"name":"x","low_stock_threshold":-1}`, nil, 422, "validation_failed"},
		{"scale change with stock", "PUT", "/v1/products/" + a, `{"name":"x","scale":3}`, nil, 409, "invalid_state"},
		{"zero delta", "POST", "/v1/products/" + a + "/adjustments", `{"delta":0,"reason":"receive"}`, nil, 422, "validation_failed"},
		{"too many decimals", "POST", "/v1/products/" + b + "/adjustments", `{"delta":0.001,"reason":"receive"}`, nil, 422, "validation_failed"},
		{"decimals on whole units", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1.5,"reason":"receive"}`, nil, 422, "validation_failed"},
		{"out of range", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1000000000000000,"reason":"receive"}`, nil, 422, "validation_failed"},
		{"bad reason", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1,"reason":"gift"}`, nil, 422, "validation_failed"},
		{"missing reason", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1}`, nil, 422, "validation_failed"},
		{"adjust unknown", "POST", "/v1/products/NOPE/adjustments", `{"delta":1,"reason":"receive"}`, nil, 404, "not_found"},
		{"get unknown", "GET", "/v1/products/NOPE", ``, nil, 404, "not_found"},
		{"below reserved", "POST", "/v1/products/" + a + "/adjustments", `{"delta":-6,"reason":"damage"}`, nil, 409, "insufficient_stock"},
		{"version conflict", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1,"reason":"receive","expected_version":1}`, nil, 409, "version_conflict"},
		{"set below reserved", "PUT", "/v1/products/" + a + "/stock", `{"on_hand":3}`, nil, 409, "insufficient_stock"},
		{"set negative", "PUT", "/v1/products/" + a + "/stock", `{"on_hand":-1}`, nil, 422, "validation_failed"},
		{"set version conflict", "PUT", "/v1/products/" + a + "/stock", `{"on_hand":20,"expected_version":99}`, nil, 409, "version_conflict"},
		{"no order id", "POST", "/v1/reservations", `{"lines":[{"sku":"` + a + `","quantity":1}]}`, nil, 422, "validation_failed"},
		{"empty lines", "POST", "/v1/reservations", `{"order_id":"o","lines":[]}`, nil, 422, "validation_failed"},
		{"zero quantity", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":0}]}`, nil, 422, "validation_failed"},
		{"negative quantity", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":-1}]}`, nil, 422, "validation_failed"},
		{"duplicate sku", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":1},{"sku":"` + a + `","quantity":1}]}`, nil, 422, "validation_failed"},
		{"ttl zero", "POST", "/v1/reservations", `{"order_id":"o","ttl_seconds":0,"lines":[{"sku":"` + a + `","quantity":1}]}`, nil, 422, "validation_failed"},
		{"ttl too long", "POST", "/v1/reservations", `{"order_id":"o","ttl_seconds":86401,"lines":[{"sku":"` + a + `","quantity":1}]}`, nil, 422, "validation_failed"},
		{"line decimals", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":1},{"sku":"` + b + `","quantity":0.125}]}`, nil, 422, "validation_failed"},
		{"unknown line sku", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":1},{"sku":"NOPE","quantity":1}]}`, nil, 404, "not_found"},
		{"short line", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":1},{"sku":"` + b + `","quantity":1},{"sku":"` + d + `","quantity":2}]}`, nil, 409, "insufficient_stock"},
		{"short single shard", "POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"` + a + `","quantity":6}]}`, nil, 409, "insufficient_stock"},
		{"get unknown reservation", "GET", "/v1/reservations/r00001AAAAAAAAAAAAAAAAAAAAAAAA", ``, nil, 404, "not_found"},
		{"malformed reservation id", "POST", "/v1/reservations/xyz/commit", ``, nil, 404, "not_found"},
		{"commit released", "POST", "/v1/reservations/" + released.Str("id") + "/commit", ``, nil, 409, "invalid_state"},
		{"release committed", "POST", "/v1/reservations/" + committed.Str("id") + "/release", ``, nil, 409, "invalid_state"},
		{"idempotency key too long", "POST", "/v1/products/" + a + "/adjustments", `{"delta":1,"reason":"receive"}`, []string{"Idempotency-Key", strings.Repeat("k", 129)}, 422, "validation_failed"},
		{"unknown route", "GET", "/v1/nothing", ``, nil, 404, "not_found"},
	}
	all := []string{a, b, d, "NEW-1"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, c, g, all)
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := g.Expect(g.Do(tc.method, tc.path, body, tc.headers...), tc.status, tc.code)
			e, ok := r.Body["error"].(map[string]any)
			if !ok || e["message"] == "" || e["details"] == nil {
				t.Errorf("error envelope incomplete: %s", r.Raw)
			}
			if after := snapshot(t, c, g, all); after != before {
				t.Errorf("rejected request changed state:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	// Details of the error codes that carry them.
	r := g.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"`+a+`","quantity":1},{"sku":"`+d+`","quantity":2}]}`)
	lines := r.Body["error"].(map[string]any)["details"].(map[string]any)["lines"].([]any)
	if len(lines) != 1 || lines[0].(map[string]any)["sku"] != d || lines[0].(map[string]any)["requested"].(interface{ String() string }).String() != "2" ||
		lines[0].(map[string]any)["available"].(interface{ String() string }).String() != "1" {
		t.Errorf("insufficient details: %s", r.Raw)
	}
	r = g.Do("POST", "/v1/products/"+a+"/adjustments", `{"delta":1,"reason":"receive","expected_version":1}`)
	if cv := r.Body["error"].(map[string]any)["details"].(map[string]any)["current_version"]; cv == nil {
		t.Errorf("version_conflict without current_version: %s", r.Raw)
	}
	c.RequireInvariants(t, true)
}
