package gateway_test

import (
	"testing"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// Choices where the contract is silent, pinned down (docs/API.md lists them).
func TestContractChoices(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Expect(g.Do("PUT", "/v1/products/KG-1", `{"name":"Rice","category":"food","scale":3,"low_stock_threshold":2.5}`), 201, "")
	g.Expect(g.Do("POST", "/v1/products/KG-1/adjustments", `{"delta":10.125,"reason":"receive"}`), 200, "")

	// An update keeps the fields it does not name: renaming a stocked product is fine.
	r := g.Expect(g.Do("PUT", "/v1/products/KG-1", `{"name":"Basmati rice"}`), 200, "")
	if r.Num("scale") != "3" || r.Str("category") != "food" || r.Num("low_stock_threshold") != "2.5" || r.Num("on_hand") != "10.125" {
		t.Errorf("partial update lost fields: %s", r.Raw)
	}
	// A create needs a name.
	g.Expect(g.Do("PUT", "/v1/products/KG-2", `{"scale":3}`), 422, "validation_failed")

	// Wrong method on a known path: 405; unknown path: 404.
	g.Expect(g.Do("DELETE", "/v1/products/KG-1", nil), 405, "method_not_allowed")
	g.Expect(g.Do("POST", "/v1/stats/summary", nil), 405, "method_not_allowed")
	g.Expect(g.Do("GET", "/v1/nope", nil), 404, "not_found")

	// Commit/release take no fields.
	id := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"KG-1","quantity":1}]}`), 201, "").Str("id")
	g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", `garbage`), 400, "invalid_request")
	g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", `{"force":true}`), 400, "invalid_request")
	g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", `{}`), 200, "")

	// The same body with members in another order is the same request for Idempotency-Key.
	a := g.Expect(g.Do("POST", "/v1/products/KG-1/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", "order-k"), 200, "")
	b := g.Expect(g.Do("POST", "/v1/products/KG-1/adjustments", `{ "reason": "receive", "delta": 1 }`, "Idempotency-Key", "order-k"), 200, "")
	if string(a.Raw) != string(b.Raw) || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("reordered replay not recognised: %s / %s", a.Raw, b.Raw)
	}
	// A key of 128 characters (not bytes) is accepted.
	long := ""
	for i := 0; i < 128; i++ {
		long += "é"
	}
	g.Expect(g.Do("POST", "/v1/products/KG-1/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", long), 200, "")
	c.RequireInvariants(t, true)
}
