package gateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// A flash sale on one SKU: mixed quantities, some direct deductions, and a stock that runs out
// in the middle of batches. Exactly the right requests succeed: nothing oversold, and every
// refused request asked for more than what was left (greedy in arrival order).
func TestCoalescedHotSKU(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("FLASH", 0, "500")
	type outcome struct {
		qty    int
		ok     bool
		commit bool
	}
	results := make([]outcome, 400)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			q := 1 + rand.IntN(5)
			commit := i%5 == 0
			r := g.Do("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"o-%d","commit":%v,"lines":[{"sku":"FLASH","quantity":%d}]}`, i, commit, q))
			switch {
			case r.Status == 201:
				want := "held"
				if commit {
					want = "committed"
				}
				if r.Str("status") != want {
					t.Errorf("status %s, want %s", r.Str("status"), want)
				}
				results[i] = outcome{q, true, commit}
			case r.ErrorCode() == "insufficient_stock":
				results[i] = outcome{q, false, commit}
			default:
				t.Errorf("unexpected %d %s", r.Status, r.Raw)
			}
		}()
	}
	wg.Wait()
	served, sold, minRefused := 0, 0, 1<<30
	for _, o := range results {
		if o.ok {
			served += o.qty
			if o.commit {
				sold += o.qty
			}
		} else {
			minRefused = min(minRefused, o.qty)
		}
	}
	p := g.Expect(g.Do("GET", "/v1/products/FLASH", nil), 200, "")
	var onHand, reserved, available int
	fmt.Sscan(p.Num("on_hand"), &onHand)
	fmt.Sscan(p.Num("reserved"), &reserved)
	fmt.Sscan(p.Num("available"), &available)
	if onHand != 500-sold || reserved != served-sold || available != 500-served {
		t.Errorf("on_hand %d reserved %d available %d; served %d (sold %d) of 500", onHand, reserved, available, served, sold)
	}
	if minRefused <= available {
		t.Errorf("a request for %d was refused while %d remained: not every servable request was served", minRefused, available)
	}
	m := scrape(t, g, `shardstock_reservation_batch_size_count{kind="reserve"}`)
	if m >= 400 {
		t.Errorf("no coalescing happened: %v batches for 400 requests", m)
	}
	t.Logf("400 requests in %v batches", m)
	c.RequireInvariants(t, true)
}

func scrape(t *testing.T, g *clustertest.Gateway, name string) float64 {
	t.Helper()
	r := g.Expect(g.Do("GET", "/metrics", nil), 200, "")
	for _, line := range strings.Split(string(r.Raw), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

// Replays inside a batch: concurrent requests under one Idempotency-Key among other traffic on
// the hot SKU apply once; a batch that meets an id already created answers it as a replay.
func TestCoalescedIdempotentReplays(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("HOTK", 0, "1000")
	var wg sync.WaitGroup
	answers := make([]clustertest.Response, 30)
	for i := 0; i < 60; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				answers[i/2] = g.Do("POST", "/v1/reservations", `{"order_id":"same","lines":[{"sku":"HOTK","quantity":7}]}`, "Idempotency-Key", "hot-key")
			} else {
				g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"other","lines":[{"sku":"HOTK","quantity":1}]}`), 201, "")
			}
		}()
	}
	wg.Wait()
	for i, a := range answers {
		if a.Status != 201 || string(a.Raw) != string(answers[0].Raw) {
			t.Errorf("replay %d: %d %s (first %s)", i, a.Status, a.Raw, answers[0].Raw)
		}
	}
	if r := g.Do("GET", "/v1/products/HOTK", nil); r.Num("reserved") != "37" {
		t.Errorf("reserved %s, want 30×1 + 7 once", r.Num("reserved"))
	}
	// Straight at the shard: a batch holding an id that exists answers it already_applied and
	// applies the rest.
	top := c.Topology(t)
	p := router.Partition("HOTK", top.Partitions)
	owner, _ := top.Map.Owner(p)
	st := c.Stores(t)[owner]
	mk := func(id string) shard.BatchRequest {
		d, _ := inventory.ParseQuantity("2")
		return shard.BatchRequest{TTL: time.Minute, KeyDerived: true, Header: shard.Header{ID: id, Partition: p, OrderID: "b",
			Lines: []shard.LineRequest{{SKU: "HOTK", Partition: p, Quantity: d, Requested: "2"}}}}
	}
	existing := answers[0].Str("id")
	res, err := st.CreateLocalBatch(context.Background(), "HOTK", p, []shard.BatchRequest{mk(fmt.Sprintf("r%05dBATCHAAAAAAAAAAAAAAAAAAAAAA", p)), mk(existing), mk(fmt.Sprintf("r%05dBATCHBBBBBBBBBBBBBBBBBBBBBB", p))})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err != nil || !inventory.IsCode(res[1].Err, inventory.CodeAlreadyApplied) || res[2].Err != nil {
		t.Errorf("batch results: %+v", res)
	}
	if r := g.Do("GET", "/v1/products/HOTK", nil); r.Num("reserved") != "41" {
		t.Errorf("reserved %s, want 41", r.Num("reserved"))
	}
	c.RequireInvariants(t, true)
}

// A fence flip in the middle of a flash sale: batches either commit before the flip (it waits
// for them) or apply nothing and are retried after it; nothing is lost or doubled.
func TestCoalescedFenceFlip(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("FENCED", 0, "100000")
	top := c.Topology(t)
	p := router.Partition("FENCED", top.Partitions)
	owner, _ := top.Map.Owner(p)
	st := c.Stores(t)[owner]
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				r := g.Do("POST", "/v1/reservations", `{"order_id":"f","lines":[{"sku":"FENCED","quantity":1}]}`)
				if r.Status != 201 {
					t.Errorf("during the flip: %d %s", r.Status, r.Raw)
					return
				}
				mu.Lock()
				ok++
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < 3; i++ {
		time.Sleep(200 * time.Millisecond)
		if err := st.Mover().SetFences(context.Background(), inventory.FenceMovedOut, []int{p}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if err := st.Mover().SetFences(context.Background(), inventory.FenceOwned, []int{p}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	stop()
	wg.Wait()
	if r := g.Do("GET", "/v1/products/FENCED", nil); r.Num("reserved") != fmt.Sprint(ok) {
		t.Errorf("reserved %s, acknowledged %d", r.Num("reserved"), ok)
	}
	c.RequireInvariants(t, true)
}

// Coalesced settles: many commits and releases of one hot SKU, with repeats and conflicting
// calls on the same reservation, give each caller the contract's answer and exact stock.
func TestCoalescedSettles(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("SETTLE", 0, "1000")
	ids := make([]string, 200)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ids[i] = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"s","lines":[{"sku":"SETTLE","quantity":2}]}`), 201, "").Str("id")
		}()
	}
	wg.Wait()
	var mu sync.Mutex
	final := map[string]string{}
	for i, id := range ids {
		for _, action := range []string{"commit", "commit", "release"} {
			if i%2 == 1 && action == "commit" {
				action = "release"
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := g.Do("POST", "/v1/reservations/"+id+"/"+action, nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.Status == 200:
					st := r.Str("status")
					if prev, ok := final[id]; ok && prev != st {
						t.Errorf("%s answered both %s and %s", id, prev, st)
					}
					final[id] = st
				case r.Status == 409 && r.ErrorCode() == "invalid_state":
				default:
					t.Errorf("%s %s: %d %s", action, id, r.Status, r.Raw)
				}
			}()
		}
	}
	wg.Wait()
	committed := 0
	for _, id := range ids {
		r := g.Expect(g.Do("GET", "/v1/reservations/"+id, nil), 200, "")
		if r.Str("status") != final[id] {
			t.Errorf("%s is %s, callers were told %s", id, r.Str("status"), final[id])
		}
		if r.Str("status") == "committed" {
			committed++
		}
	}
	p := g.Do("GET", "/v1/products/SETTLE", nil)
	if p.Num("on_hand") != fmt.Sprint(1000-2*committed) || p.Num("reserved") != "0" {
		t.Errorf("after settles: %s (%d committed)", p.Raw, committed)
	}
	if n := scrape(t, g, `shardstock_reservation_batch_size_count{kind="settle"}`); n >= 600 {
		t.Errorf("settles were not coalesced: %v groups for 600 calls", n)
	}
	c.RequireInvariants(t, true)
}
