package gateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

func lotBody(code, qty string, expires time.Time) string {
	return fmt.Sprintf(`{"lot":%q,"quantity":%s,"expires_at":%q}`, code, qty, expires.UTC().Format(time.RFC3339Nano))
}

// lotsOf returns lot → remaining of the product's lots (include_empty), after checking that
// they add up to on_hand exactly.
func lotsOf(t *testing.T, g *clustertest.Gateway, sku string) map[string]string {
	t.Helper()
	r := g.Expect(g.Do("GET", "/v1/products/"+sku+"/lots?include_empty=true", nil), 200, "")
	out := map[string]string{}
	var units int64
	scale := 6
	for _, l := range r.Body["lots"].([]any) {
		m := l.(map[string]any)
		rem := fmt.Sprint(m["remaining"])
		out[m["lot"].(string)] = rem
		d, err := inventory.ParseQuantity(rem)
		if err != nil {
			t.Fatal(err)
		}
		u, _ := d.BaseUnits(scale)
		units += u
	}
	onHand, _ := inventory.ParseQuantity(r.Num("on_hand"))
	want, _ := onHand.BaseUnits(scale)
	if units != want {
		t.Fatalf("%s: on_hand %s but lots hold %s (%v)", sku, r.Num("on_hand"), inventory.FormatUnits(units, scale), out)
	}
	return out
}

func sameLots(got map[string]string, want map[string]string) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// changeRefs lists "kind ref" of the change rows of sku with the given kinds, over every shard.
func changeRefs(t *testing.T, c *clustertest.Cluster, sku string, kinds ...inventory.ChangeKind) []string {
	t.Helper()
	var out, names []string
	for _, k := range kinds {
		names = append(names, string(k))
	}
	for _, st := range c.Stores(t) {
		rows, err := st.DB().Query("SELECT kind, ref FROM changes WHERE sku = ? AND kind IN ('"+strings.Join(names, "','")+"') ORDER BY seq", sku)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var k, r string
			if err := rows.Scan(&k, &r); err != nil {
				t.Fatal(err)
			}
			out = append(out, k+" "+r)
		}
		rows.Close()
	}
	return out
}

// Receiving lots (validation, idempotency, expiry conflicts) and FEFO consumption by commits,
// sales and adjustments, with exact scale-3 decimals.
func TestLotsReceiveAndFEFO(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Product("CHEESE", 3, "")
	now := time.Now().UTC()
	day := 24 * time.Hour
	late, early, mid := now.Add(30*day), now.Add(10*day), now.Add(20*day)

	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"quantity":1,"expires_at":"` + late.Format(time.RFC3339) + `"}`, "validation_failed", 422},
		{lotBody("", "1", late), "validation_failed", 422},
		{lotBody("bad:code", "1", late), "validation_failed", 422},
		{lotBody(strings.Repeat("x", 65), "1", late), "validation_failed", 422},
		{lotBody("L", "0", late), "validation_failed", 422},
		{lotBody("L", "-1", late), "validation_failed", 422},
		{lotBody("L", "0.0001", late), "validation_failed", 422},
		{lotBody("L", "1", now.Add(-time.Minute)), "validation_failed", 422},
		{`{"lot":"L","quantity":1,"expires_at":"tomorrow"}`, "validation_failed", 422},
		{`{"lot":"L","quantity":"1","expires_at":"` + late.Format(time.RFC3339) + `"}`, "invalid_request", 400},
	} {
		g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", tc.body), tc.status, tc.code)
	}
	g.Expect(g.Do("POST", "/v1/products/NOPE/lots", lotBody("L", "1", late)), 404, "not_found")

	r := g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("LATE", "5.25", late), "Idempotency-Key", "rcv-late"), 201, "")
	if lot := r.Body["lot"].(map[string]any); fmt.Sprint(lot["remaining"]) != "5.25" {
		t.Fatalf("receipt: %s", r.Raw)
	}
	// A replay with the same key is answered from the first response and not applied twice.
	g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("LATE", "5.25", late), "Idempotency-Key", "rcv-late"), 201, "")
	g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("EARLY", "1.125", early)), 201, "")
	g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("MID", "2", mid)), 201, "")
	// More of MID with the same expiry adds up (200); another expiry is a conflict.
	r = g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("MID", "0.5", mid)), 200, "")
	if p := r.Body["product"].(map[string]any); fmt.Sprint(p["on_hand"]) != "8.875" {
		t.Fatalf("product after receipts: %s", r.Raw)
	}
	g.Expect(g.Do("POST", "/v1/products/CHEESE/lots", lotBody("MID", "1", late)), 409, "invalid_state")

	// The listing is ordered by expiry.
	r = g.Expect(g.Do("GET", "/v1/products/CHEESE/lots", nil), 200, "")
	var order []string
	for _, l := range r.Body["lots"].([]any) {
		order = append(order, l.(map[string]any)["lot"].(string))
	}
	if strings.Join(order, ",") != "EARLY,MID,LATE" || r.Num("on_hand") != "8.875" {
		t.Fatalf("listing: %s", r.Raw)
	}

	// Reserve 3, then commit: EARLY (1.125) entirely, then 1.875 of MID.
	res := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o1","lines":[{"sku":"CHEESE","quantity":3}]}`), 201, "")
	if got, want := lotsOf(t, g, "CHEESE"), map[string]string{"EARLY": "1.125", "MID": "2.5", "LATE": "5.25"}; !sameLots(got, want) {
		t.Fatalf("a hold takes nothing from lots: %v", got)
	}
	g.Expect(g.Do("POST", "/v1/reservations/"+res.Str("id")+"/commit", nil), 200, "")
	if got, want := lotsOf(t, g, "CHEESE"), map[string]string{"EARLY": "0", "MID": "0.625", "LATE": "5.25"}; !sameLots(got, want) {
		t.Fatalf("after commit: %v, want %v", got, want)
	}
	// A direct sale of 1.5: MID's 0.625, then 0.875 of LATE.
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o2","commit":true,"lines":[{"sku":"CHEESE","quantity":1.5}]}`), 201, "")
	// Damage of 0.375 from LATE.
	g.Expect(g.Do("POST", "/v1/products/CHEESE/adjustments", `{"delta":-0.375,"reason":"damage"}`), 200, "")
	if got, want := lotsOf(t, g, "CHEESE"), map[string]string{"EARLY": "0", "MID": "0", "LATE": "4"}; !sameLots(got, want) {
		t.Fatalf("after sale and damage: %v, want %v", got, want)
	}
	want := []string{"lot_take EARLY:1.125", "lot_take MID:1.875", "lot_take MID:0.625", "lot_take LATE:0.875", "lot_take LATE:0.375"}
	if got := changeRefs(t, c, "CHEESE", inventory.KindLotTake); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lot_take rows %v, want %v", got, want)
	}
	// Stock of a lot-tracked product only arrives through a lot.
	g.Expect(g.Do("POST", "/v1/products/CHEESE/adjustments", `{"delta":1,"reason":"return"}`), 422, "validation_failed")
	g.Expect(g.Do("PUT", "/v1/products/CHEESE/stock", `{"on_hand":10}`), 422, "validation_failed")
	// Depleted lots are listed only on request.
	r = g.Expect(g.Do("GET", "/v1/products/CHEESE/lots", nil), 200, "")
	if n := len(r.Body["lots"].([]any)); n != 1 {
		t.Fatalf("listing without include_empty: %s", r.Raw)
	}
	c.RequireInvariants(t, true)
}

// The sweeper worker removes an expired lot with an expire change. When reserved stock needs
// expired quantity it removes only what is free, records the conflict once and removes the rest
// once the reservation is released.
func TestLotExpirySweeper(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Lots.SweepInterval = 50 * time.Millisecond })
	g.Product("BREAD", 0, "")
	g.Product("SOUP", 1, "")
	soon := time.Now().Add(1500 * time.Millisecond)
	later := time.Now().Add(24 * time.Hour)
	g.Expect(g.Do("POST", "/v1/products/BREAD/lots", lotBody("B1", "4", soon)), 201, "")
	g.Expect(g.Do("POST", "/v1/products/BREAD/lots", lotBody("B2", "6", later)), 201, "")
	g.Expect(g.Do("POST", "/v1/products/SOUP/lots", lotBody("S-OLD", "5", soon)), 201, "")
	g.Expect(g.Do("POST", "/v1/products/SOUP/lots", lotBody("S-NEW", "3", later)), 201, "")
	// 7 of SOUP's 8 are held: after expiry only 1 of S-OLD's 5 can go.
	res := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"soup","lines":[{"sku":"SOUP","quantity":7}]}`), 201, "")

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("BREAD's B1 to expire", func() bool { return lotsOf(t, g, "BREAD")["B1"] == "0" })
	if r := g.Expect(g.Do("GET", "/v1/products/BREAD", nil), 200, ""); r.Num("on_hand") != "6" {
		t.Fatalf("BREAD after expiry: %s", r.Raw)
	}
	if got := changeRefs(t, c, "BREAD", inventory.KindLotExpire); strings.Join(got, "|") != "expire B1" {
		t.Fatalf("BREAD expire rows %v", got)
	}
	waitFor("SOUP's conflict", func() bool { return len(changeRefs(t, c, "SOUP", inventory.KindLotConflict)) > 0 })
	time.Sleep(200 * time.Millisecond) // several more sweeps: nothing more to record
	if got := lotsOf(t, g, "SOUP"); !sameLots(got, map[string]string{"S-OLD": "4", "S-NEW": "3"}) {
		t.Fatalf("SOUP during the conflict: %v", got)
	}
	if got := changeRefs(t, c, "SOUP", inventory.KindLotExpire, inventory.KindLotConflict); strings.Join(got, "|") != "expire S-OLD|lot_conflict S-OLD:4" {
		t.Fatalf("SOUP rows %v", got)
	}
	r := g.Expect(g.Do("GET", "/v1/products/SOUP/lots", nil), 200, "")
	if l := r.Body["lots"].([]any)[0].(map[string]any); l["lot"] != "S-OLD" || l["expired"] != true || l["expiry_conflict"] != true {
		t.Fatalf("SOUP listing: %s", r.Raw)
	}
	if m := g.Do("GET", "/metrics", nil); !strings.Contains(string(m.Raw), "shardstock_lot_expiry_conflicts_total 1") {
		t.Fatalf("conflict metric missing")
	}
	c.RequireInvariants(t, true)
	// Released, the expired rest goes too.
	g.Expect(g.Do("POST", "/v1/reservations/"+res.Str("id")+"/release", nil), 200, "")
	waitFor("SOUP's S-OLD to go", func() bool { return lotsOf(t, g, "SOUP")["S-OLD"] == "0" })
	if r := g.Expect(g.Do("GET", "/v1/products/SOUP", nil), 200, ""); r.Num("on_hand") != "3" {
		t.Fatalf("SOUP after release: %s", r.Raw)
	}
	g.Server.Stop() // the sweeper stops with the other workers
	c.RequireInvariants(t, true)
}

// lotTraffic receives lots and consumes stock (commits, sales, damage) on the SKUs through the
// gateways until ctx is done; business refusals are expected, other errors fail the test.
func lotTraffic(ctx context.Context, t *testing.T, gws []*clustertest.Gateway, skus []string, clients int) (wait func()) {
	var wg sync.WaitGroup
	expiry := map[string]time.Time{}
	for i, code := range []string{"A", "B", "C", "D"} {
		expiry[code] = time.Now().Add(time.Duration(i+1) * 24 * time.Hour)
	}
	for w := 0; w < clients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; ctx.Err() == nil; n++ {
				g := gws[rng.IntN(len(gws))]
				sku := skus[rng.IntN(len(skus))]
				qty := fmt.Sprintf("%d.%02d", rng.IntN(3), 1+rng.IntN(99))
				var r clustertest.Response
				var err error
				switch rng.IntN(4) {
				case 0:
					code := []string{"A", "B", "C", "D"}[rng.IntN(4)]
					r, err = g.Try("POST", "/v1/products/"+sku+"/lots", lotBody(code, qty, expiry[code]))
				case 1:
					r, err = g.Try("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"o","lines":[{"sku":%q,"quantity":%s}]}`, sku, qty))
					if err == nil && r.Status == 201 {
						action := "commit"
						if rng.IntN(3) == 0 {
							action = "release"
						}
						r, err = g.Try("POST", "/v1/reservations/"+r.Str("id")+"/"+action, nil)
					}
				case 2:
					r, err = g.Try("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"s","commit":true,"lines":[{"sku":%q,"quantity":%s}]}`, sku, qty))
				default:
					r, err = g.Try("POST", "/v1/products/"+sku+"/adjustments", fmt.Sprintf(`{"delta":-%s,"reason":"damage"}`, qty))
				}
				if err != nil {
					if ctx.Err() == nil {
						t.Errorf("transport: %v", err)
					}
					return
				}
				if r.Status >= 300 && !(r.Status == 409 && r.ErrorCode() == "insufficient_stock") && r.Status != 503 {
					t.Errorf("unexpected answer %d: %s", r.Status, r.Raw)
					return
				}
			}
		}()
	}
	return wg.Wait
}

// Concurrent receipts and consumption through two gateways keep every lot-tracked product's
// on_hand equal to the sum of its lots, and every other invariant.
func TestLotsConcurrentReceivesAndCommits(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g1 := c.StartGateway(t, gateway.Options{}, nil)
	g2 := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "LOT")
	for _, s := range skus {
		g1.Product(s, 2, "")
		g1.Expect(g1.Do("POST", "/v1/products/"+s+"/lots", lotBody("INIT", "20", time.Now().Add(24*time.Hour))), 201, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lotTraffic(ctx, t, []*clustertest.Gateway{g1, g2}, skus, 12)()
	for _, s := range skus {
		lotsOf(t, g1, s)
	}
	changes := 0
	for _, s := range skus {
		changes += len(changeRefs(t, c, s, inventory.KindLotTake))
	}
	if changes == 0 {
		t.Fatal("the traffic consumed no lot")
	}
	c.RequireInvariants(t, true)
}

// Lots move with their products when a shard is added while lot traffic continues: the copy,
// the catch-up (lot rows re-copied with their SKU's changes) and the cutover checksums hold.
func TestLotsMoveWithReshard(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{}, nil)
	var skus []string
	for i := 0; i < 12; i++ {
		s := fmt.Sprintf("MOVE-%d", i)
		skus = append(skus, s)
		g.Product(s, 2, "")
		g.Expect(g.Do("POST", "/v1/products/"+s+"/lots", lotBody("INIT", "50", time.Now().Add(24*time.Hour))), 201, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := lotTraffic(ctx, t, []*clustertest.Gateway{g}, skus, 4)
	r, err := migrate.NewResharder(c.MetaDSN, migrate.ReshardOptions{Parallel: 4, CutoverBatch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	job, err := r.Start(context.Background(), []migrate.ShardSpec{{Name: "shard-3", DSN: testdb.Server(t).NewDatabase(t, "shard3")}}, nil)
	time.Sleep(300 * time.Millisecond)
	cancel()
	wait()
	if err != nil || job.State != inventory.JobDone {
		t.Fatalf("reshard: %v (%v)", err, job.State)
	}
	moved := 0
	top := c.Topology(t)
	for _, s := range skus {
		lotsOf(t, g, s)
		if owner, _ := top.Map.Owner(router.Partition(s, top.Partitions)); owner == "shard-3" {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no product moved to the new shard")
	}
	c.RequireInvariants(t, true)
}
