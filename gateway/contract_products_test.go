package gateway_test

import (
	"strings"
	"testing"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

func TestProductLifecycle(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)

	r := g.Expect(g.Do("PUT", "/v1/products/TSHIRT-1", `{"name":"T-shirt","category":"apparel","scale":0,"low_stock_threshold":5}`), 201, "")
	for field, want := range map[string]string{"on_hand": "0", "reserved": "0", "available": "0", "low_stock_threshold": "5", "version": "1", "scale": "0"} {
		if got := r.Num(field); got != want {
			t.Errorf("%s = %s, want %s", field, got, want)
		}
	}
	if r.Str("sku") != "TSHIRT-1" || r.Str("name") != "T-shirt" || r.Str("category") != "apparel" || r.Str("updated_at") == "" {
		t.Errorf("unexpected product: %s", r.Raw)
	}
	// An identical PUT changes nothing; a different one bumps the version.
	r = g.Expect(g.Do("PUT", "/v1/products/TSHIRT-1", `{"name":"T-shirt","category":"apparel","scale":0,"low_stock_threshold":5}`), 200, "")
	if r.Num("version") != "1" {
		t.Errorf("no-op PUT bumped version to %s", r.Num("version"))
	}
	r = g.Expect(g.Do("PUT", "/v1/products/TSHIRT-1", `{"name":"T-shirt v2","category":"apparel","scale":0,"low_stock_threshold":5}`), 200, "")
	if r.Num("version") != "2" || r.Str("name") != "T-shirt v2" {
		t.Errorf("update: %s", r.Raw)
	}
	r = g.Expect(g.Do("POST", "/v1/products/TSHIRT-1/adjustments", `{"delta": 40, "reason": "receive"}`), 200, "")
	if r.Num("on_hand") != "40" || r.Num("available") != "40" || r.Num("version") != "3" {
		t.Errorf("after receive: %s", r.Raw)
	}
	r = g.Expect(g.Do("POST", "/v1/products/TSHIRT-1/adjustments", `{"delta": -3, "reason": "damage", "expected_version": 3}`), 200, "")
	if r.Num("on_hand") != "37" || r.Num("version") != "4" {
		t.Errorf("after damage: %s", r.Raw)
	}
	r = g.Expect(g.Do("PUT", "/v1/products/TSHIRT-1/stock", `{"on_hand": 12}`), 200, "")
	if r.Num("on_hand") != "12" || r.Num("version") != "5" {
		t.Errorf("after count: %s", r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/products/TSHIRT-1", nil), 200, "")
	if r.Num("on_hand") != "12" || r.Str("name") != "T-shirt v2" {
		t.Errorf("get: %s", r.Raw)
	}
	// Scale cannot change while the product has stock.
	g.Expect(g.Do("PUT", "/v1/products/TSHIRT-1", `{"name":"T-shirt","scale":2}`), 409, "invalid_state")
	c.RequireInvariants(t, true)
}

func TestExactQuantities(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Expect(g.Do("PUT", "/v1/products/FLOUR", `{"name":"Flour","scale":3,"low_stock_threshold":0.5}`), 201, "")
	steps := []struct{ delta, onHand string }{
		{"0.001", "0.001"}, {"1.1", "1.101"}, {"999999999.899", "1000000001"}, {"-0.1", "1000000000.9"}, {"1e-3", "1000000000.901"},
		{"0.10", "1000000001.001"},
	}
	for _, s := range steps {
		r := g.Expect(g.Do("POST", "/v1/products/FLOUR/adjustments", `{"delta": `+s.delta+`, "reason": "receive"}`), 200, "")
		if r.Num("on_hand") != s.onHand {
			t.Fatalf("after %s: on_hand %s, want %s", s.delta, r.Num("on_hand"), s.onHand)
		}
	}
	// Largest quantity below 10^15 base units: 999999999999.999 at scale 3.
	g.Expect(g.Do("PUT", "/v1/products/FLOUR/stock", `{"on_hand": 999999999999.999}`), 200, "")
	g.Expect(g.Do("POST", "/v1/products/FLOUR/adjustments", `{"delta": 0.001, "reason": "receive"}`), 422, "validation_failed")
	g.Expect(g.Do("PUT", "/v1/products/FLOUR/stock", `{"on_hand": 1000000000000}`), 422, "validation_failed")
	g.Expect(g.Do("POST", "/v1/products/FLOUR/adjustments", `{"delta": 0.0001, "reason": "receive"}`), 422, "validation_failed")
	r := g.Expect(g.Do("PUT", "/v1/products/FLOUR/stock", `{"on_hand": 2.5}`), 200, "")
	if r.Num("on_hand") != "2.5" || r.Num("low_stock_threshold") != "0.5" {
		t.Errorf("got %s", r.Raw)
	}
	r = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o1","lines":[{"sku":"FLOUR","quantity":0.333}]}`), 201, "")
	if !strings.Contains(string(r.Raw), `"quantity":0.333`) {
		t.Errorf("reservation line not exact: %s", r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/products/FLOUR", nil), 200, "")
	if r.Num("reserved") != "0.333" || r.Num("available") != "2.167" {
		t.Errorf("got %s", r.Raw)
	}
	c.RequireInvariants(t, true)
}

func TestBatchGet(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "B")
	for _, s := range skus {
		g.Product(s, 0, "7")
	}
	q := "/v1/products?sku=" + skus[2] + "&sku=NOPE&sku=" + skus[0] + "&sku=" + skus[1]
	r := g.Expect(g.Do("GET", q, nil), 200, "")
	ps := r.Body["products"].([]any)
	if len(ps) != 3 {
		t.Fatalf("got %s", r.Raw)
	}
	for i, want := range []string{skus[2], skus[0], skus[1]} {
		if got := ps[i].(map[string]any)["sku"]; got != want {
			t.Errorf("products[%d] = %v, want %s (request order)", i, got, want)
		}
	}
	if m := r.Body["missing"].([]any); len(m) != 1 || m[0] != "NOPE" {
		t.Errorf("missing = %v", m)
	}
	g.Expect(g.Do("GET", "/v1/products?sku=bad%20sku", nil), 422, "validation_failed")
	g.Expect(g.Do("GET", "/v1/products?sku=x"+strings.Repeat("&sku=x", 500), nil), 422, "validation_failed")
}
