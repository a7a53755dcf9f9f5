package gateway_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// 200 concurrent single-unit reservations against a stock of 50: exactly 50 succeed.
func TestConcurrentReservationsNoOversell(t *testing.T) {
	for _, coalesce := range []bool{true, false} {
		t.Run(fmt.Sprintf("coalesce=%v", coalesce), func(t *testing.T) {
			noOversell(t, coalesce)
		})
	}
}

func noOversell(t *testing.T, coalesce bool) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Coalesce.Enabled = coalesce })
	g.Product("HOT", 0, "50")
	var ok, short, other atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.Do("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"o-%d","lines":[{"sku":"HOT","quantity":1}]}`, i))
			switch {
			case r.Status == 201:
				ok.Add(1)
			case r.Status == 409 && r.ErrorCode() == "insufficient_stock":
				short.Add(1)
			default:
				other.Add(1)
				t.Errorf("unexpected answer %d: %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 50 || short.Load() != 150 || other.Load() != 0 {
		t.Fatalf("successes %d, insufficient %d, other %d; want 50/150/0", ok.Load(), short.Load(), other.Load())
	}
	r := g.Expect(g.Do("GET", "/v1/products/HOT", nil), 200, "")
	if r.Num("reserved") != "50" || r.Num("available") != "0" {
		t.Errorf("product after the rush: %s", r.Raw)
	}
	c.RequireInvariants(t, true)
}

// A reservation whose lines span every shard is all-or-nothing, also under contention: many
// orders for one unit of each SKU race; the scarce SKU decides, and no other line leaks.
func TestCrossShardAllOrNothing(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 4})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "X")
	for i, s := range skus {
		stock := "100"
		if i == len(skus)-1 {
			stock = "7" // the scarce one
		}
		g.Product(s, 0, stock)
	}
	body := `{"order_id":"o","lines":[`
	for i, s := range skus {
		if i > 0 {
			body += ","
		}
		body += `{"sku":"` + s + `","quantity":1}`
	}
	body += `]}`
	// One short line: nothing is reserved anywhere.
	short := `{"order_id":"short","lines":[{"sku":"` + skus[0] + `","quantity":1},{"sku":"` + skus[len(skus)-1] + `","quantity":8}]}`
	g.Expect(g.Do("POST", "/v1/reservations", short), 409, "insufficient_stock")

	var ok atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := g.Do("POST", "/v1/reservations", body)
			if r.Status == 201 {
				ok.Add(1)
			} else if r.ErrorCode() != "insufficient_stock" {
				t.Errorf("unexpected %d: %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 7 {
		t.Fatalf("%d cross-shard reservations succeeded, want 7", ok.Load())
	}
	for i, s := range skus {
		r := g.Expect(g.Do("GET", "/v1/products/"+s, nil), 200, "")
		if r.Num("reserved") != "7" {
			t.Errorf("sku %d %s reserved %s, want 7 (all-or-nothing)", i, s, r.Num("reserved"))
		}
	}
	c.RequireInvariants(t, true)
}

// Concurrent replays of one Idempotency-Key apply once and all get the first answer.
func TestConcurrentIdempotentReplays(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "I")
	for _, s := range skus {
		g.Product(s, 0, "10")
	}
	requests := []struct{ method, path, body string }{
		{"POST", "/v1/products/" + skus[0] + "/adjustments", `{"delta": 5, "reason": "receive"}`},
		{"POST", "/v1/reservations", `{"order_id":"idem","lines":[{"sku":"` + skus[1] + `","quantity":2},{"sku":"` + skus[2] + `","quantity":3}]}`},
		{"POST", "/v1/reservations", `{"order_id":"idem-local","lines":[{"sku":"` + skus[0] + `","quantity":1}]}`},
		{"PUT", "/v1/products/" + skus[2] + "/stock", `{"on_hand": 30}`},
	}
	for i, req := range requests {
		key := fmt.Sprintf("key-%d", i)
		answers := make([]clustertest.Response, 25)
		var wg sync.WaitGroup
		for j := range answers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[j] = g.Do(req.method, req.path, req.body, "Idempotency-Key", key)
			}()
		}
		wg.Wait()
		for j, a := range answers {
			if a.Status != answers[0].Status || string(a.Raw) != string(answers[0].Raw) {
				t.Errorf("request %d replay %d differs: %d %s vs %d %s", i, j, a.Status, a.Raw, answers[0].Status, answers[0].Raw)
			}
			if a.Status >= 300 {
				t.Errorf("request %d: %d %s", i, a.Status, a.Raw)
			}
		}
		// Same key, different body.
		g.Expect(g.Do(req.method, req.path, `{"order_id":"other","lines":[{"sku":"`+skus[0]+`","quantity":1}]}`, "Idempotency-Key", key), 422, "idempotency_conflict")
	}
	want := map[string][2]string{skus[0]: {"15", "1"}, skus[1]: {"10", "2"}, skus[2]: {"30", "3"}}
	for sku, w := range want {
		r := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, "")
		if r.Num("on_hand") != w[0] || r.Num("reserved") != w[1] {
			t.Errorf("%s: on_hand %s reserved %s, want %s/%s (applied once)", sku, r.Num("on_hand"), r.Num("reserved"), w[0], w[1])
		}
	}
	c.RequireInvariants(t, true)
}
