package gateway_test

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// ownerDB returns the database of the shard that owns sku.
func ownerDB(t *testing.T, c *clustertest.Cluster, sku string) *sql.DB {
	t.Helper()
	top := c.Topology(t)
	owner, _ := top.Map.Owner(router.Partition(sku, top.Partitions))
	return c.Stores(t)[owner].DB()
}

// checkAlertState checks that the SKU's active alerts are exactly those its availability
// calls for (low_stock while available <= threshold, out_of_stock at 0), and that its alert
// change rows alternate per kind: an open, then the resolution of that very alert, never two
// opens in a row. It returns the number of alert change rows.
func checkAlertState(t *testing.T, db *sql.DB, sku string, available, threshold int64) int {
	t.Helper()
	want := map[string]bool{"low_stock": threshold > 0 && available <= threshold, "out_of_stock": available == 0}
	active := map[string]string{}
	rows, err := db.Query("SELECT kind, id FROM stock_alerts WHERE sku = ? AND status <> 'resolved'", sku)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var k, id string
		if err := rows.Scan(&k, &id); err != nil {
			t.Fatal(err)
		}
		if active[k] != "" {
			t.Errorf("%s: two active %s alerts", sku, k)
		}
		active[k] = id
	}
	rows.Close()
	for k, w := range want {
		if (active[k] != "") != w {
			t.Errorf("%s: available %d threshold %d: active %s alert = %q, want active %v", sku, available, threshold, k, active[k], w)
		}
	}
	rows, err = db.Query(`SELECT c.kind, c.ref, COALESCE(a.kind, ''), c.delta_on_hand, c.delta_reserved FROM changes c
		LEFT JOIN stock_alerts a ON a.id = c.ref WHERE c.sku = ? AND c.kind LIKE 'alert:%' ORDER BY c.seq`, sku)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	open := map[string]string{}
	n := 0
	for rows.Next() {
		var kind, ref, alertKind string
		var doh, drs int64
		if err := rows.Scan(&kind, &ref, &alertKind, &doh, &drs); err != nil {
			t.Fatal(err)
		}
		n++
		if doh != 0 || drs != 0 {
			t.Errorf("%s: %s change row with deltas", sku, kind)
		}
		switch kind {
		case "alert:low", "alert:out":
			if alertKind != map[string]string{"alert:low": "low_stock", "alert:out": "out_of_stock"}[kind] {
				t.Errorf("%s: %s names a %q alert", sku, kind, alertKind)
			}
			if open[alertKind] != "" {
				t.Errorf("%s: row %d: %s while %s is still open (two opens in a row)", sku, n, kind, open[alertKind])
			}
			open[alertKind] = ref
		case "alert:resolved":
			if open[alertKind] != ref {
				t.Errorf("%s: row %d: resolves %s, but the open %s alert is %q", sku, n, ref, alertKind, open[alertKind])
			}
			open[alertKind] = ""
		}
	}
	for k := range want {
		if open[k] != active[k] {
			t.Errorf("%s: change log leaves %s alert %q open, table has %q", sku, k, open[k], active[k])
		}
	}
	return n
}

func availability(t *testing.T, g *clustertest.Gateway, sku string) int64 {
	t.Helper()
	r := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, "")
	var n int64
	fmt.Sscan(r.Num("available"), &n)
	return n
}

// 100 concurrent single-unit reservations and releases around the threshold, through a
// coalescing and a non-coalescing gateway: after each phase exactly the alerts the final
// availability calls for are open, and the change log alternates open/resolve per kind.
func TestAlertsUnderConcurrentReservations(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g1 := c.StartGateway(t, gateway.Options{}, nil)
	g2 := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Coalesce.Enabled = false })
	gws := []*clustertest.Gateway{g1, g2}
	const sku, threshold = "HOT-ALERT", 50
	g1.Expect(g1.Do("PUT", "/v1/products/"+sku, map[string]any{"name": "hot", "low_stock_threshold": threshold}), 201, "")
	g1.Expect(g1.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": 60, "reason": "receive"}`), 200, "")
	db := ownerDB(t, c, sku)
	check := func(phase string, want int64) {
		t.Helper()
		if got := availability(t, g1, sku); got != want {
			t.Fatalf("%s: available %d, want %d", phase, got, want)
		}
		checkAlertState(t, db, sku, want, threshold)
	}
	check("received", 60)

	parallel := func(n int, fn func(i int)) {
		var wg sync.WaitGroup
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(i)
			}()
		}
		wg.Wait()
	}
	var mu sync.Mutex
	var held []string
	reserve := func(i int) {
		g := gws[i%2]
		r := g.Do("POST", "/v1/reservations", fmt.Sprintf(`{"order_id":"o%d-%d","lines":[{"sku":%q,"quantity":1}]}`, i, rand.Int(), sku))
		switch r.Status {
		case 201:
			mu.Lock()
			held = append(held, r.Str("id"))
			mu.Unlock()
		case 409:
		default:
			t.Errorf("reserve: %d %s", r.Status, r.Raw)
		}
	}
	release := func(g *clustertest.Gateway, id string) {
		g.Expect(g.Do("POST", "/v1/reservations/"+id+"/release", nil), 200, "")
	}

	// A: 100 reservations of 1 for 60 units: down through the threshold to 0.
	parallel(100, reserve)
	if len(held) != 60 {
		t.Fatalf("%d reservations held, want 60", len(held))
	}
	check("sold out", 0)
	// B: 15 releases: out of stock resolves, low stock stays.
	parallel(15, func(i int) { release(gws[i%2], held[i]) })
	check("15 released", 15)
	// C: the other 45 releases race 100 new reservations (and back over the threshold and
	// under it again, in whatever order they land).
	rest := held[15:]
	held = nil
	parallel(145, func(i int) {
		if i < len(rest) {
			release(gws[i%2], rest[i])
		} else {
			reserve(i)
		}
	})
	check("mixed", 60-int64(len(held)))
	// D: release what is held, alternating with single reservations released at once.
	last := held
	held = nil
	parallel(len(last)+40, func(i int) {
		if i < len(last) {
			release(gws[i%2], last[i])
			return
		}
		reserve(i)
	})
	parallel(len(held), func(i int) { release(gws[i%2], held[i]) })
	check("all released", 60)
	// E: a sale down to exactly the threshold, then to 0 and a receipt above it.
	g1.Expect(g1.Do("POST", "/v1/reservations", `{"order_id":"sale","commit":true,"lines":[{"sku":"`+sku+`","quantity":10}]}`), 201, "")
	check("at threshold", threshold)
	g1.Expect(g1.Do("PUT", "/v1/products/"+sku+"/stock", `{"on_hand": 0, "reason": "count"}`), 200, "")
	check("counted 0", 0)
	g1.Expect(g1.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": 51, "reason": "receive"}`), 200, "")
	n := checkAlertState(t, db, sku, 51, threshold)
	if n < 8 {
		t.Errorf("only %d alert change rows", n)
	}
	c.RequireInvariants(t, true)
}

// Threshold changes through PUT open and resolve alerts; acknowledging and its errors.
func TestAlertAPI(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	const sku = "ALRT-1"
	g.Expect(g.Do("PUT", "/v1/products/"+sku, map[string]any{"name": "a", "category": "tools", "scale": 2, "low_stock_threshold": json.Number("2.5")}), 201, "")
	g.Expect(g.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": 3, "reason": "receive"}`), 200, "")
	list := func(query string) []map[string]any {
		t.Helper()
		r := g.Expect(g.Do("GET", "/v1/alerts"+query, nil), 200, "")
		checkCoverage(t, query, r.Body)
		var out []map[string]any
		for _, a := range r.Body["alerts"].([]any) {
			out = append(out, a.(map[string]any))
		}
		return out
	}
	if got := list(""); len(got) != 0 {
		t.Fatalf("alerts with stock above the threshold: %v", got)
	}
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o1","lines":[{"sku":"`+sku+`","quantity":0.5}]}`), 201, "")
	got := list("")
	if len(got) != 1 || got[0]["kind"] != "low_stock" || got[0]["status"] != "open" || got[0]["sku"] != sku || got[0]["category"] != "tools" ||
		fmt.Sprint(got[0]["available"]) != "2.5" || fmt.Sprint(got[0]["low_stock_threshold"]) != "2.5" ||
		got[0]["acknowledged_at"] != nil || got[0]["resolved_at"] != nil || got[0]["opened_at"] == "" {
		t.Fatalf("at the threshold: %v", got)
	}
	first := got[0]["id"].(string)

	// The threshold drops below availability: resolved. It rises again: a new alert.
	g.Expect(g.Do("PUT", "/v1/products/"+sku, map[string]any{"low_stock_threshold": 2}), 200, "")
	if got := list(""); len(got) != 0 {
		t.Fatalf("threshold 2 < 2.5 available: %v", got)
	}
	// Resolved: the alerts of the empty product just created, and this one.
	resolved := list("?status=resolved")
	if i := slices.IndexFunc(resolved, func(a map[string]any) bool { return a["id"] == first }); len(resolved) != 3 || i < 0 || resolved[i]["resolved_at"] == nil {
		t.Fatalf("resolved: %v", resolved)
	}
	g.Expect(g.Do("PUT", "/v1/products/"+sku, map[string]any{"low_stock_threshold": 3}), 200, "")
	got = list("?status=open")
	if len(got) != 1 || got[0]["id"] == first || fmt.Sprint(got[0]["low_stock_threshold"]) != "3" {
		t.Fatalf("threshold 3: %v", got)
	}
	second := got[0]["id"].(string)

	// Acknowledge: 200, idempotent; listed as acknowledged and as active, not as open.
	r := g.Expect(g.Do("POST", "/v1/alerts/"+second+"/acknowledge", nil), 200, "")
	if r.Str("status") != "acknowledged" || r.Str("acknowledged_at") == "" || r.Str("id") != second {
		t.Fatalf("acknowledge: %s", r.Raw)
	}
	again := g.Expect(g.Do("POST", "/v1/alerts/"+second+"/acknowledge", nil), 200, "")
	if again.Str("acknowledged_at") != r.Str("acknowledged_at") {
		t.Errorf("second acknowledge changed it: %s vs %s", again.Raw, r.Raw)
	}
	if got := list("?status=open"); len(got) != 0 {
		t.Errorf("open after acknowledge: %v", got)
	}
	if got := list("?status=acknowledged"); len(got) != 1 || got[0]["id"] != second {
		t.Errorf("acknowledged: %v", got)
	}
	if got := list(""); len(got) != 1 || got[0]["id"] != second {
		t.Errorf("active: %v", got)
	}
	// Errors: resolved, unknown (well-formed or not), a body, a bad status filter.
	g.Expect(g.Do("POST", "/v1/alerts/"+first+"/acknowledge", nil), 409, "invalid_state")
	g.Expect(g.Do("POST", "/v1/alerts/"+first[:6]+strings.Repeat("0", 24)+"/acknowledge", nil), 404, "not_found")
	g.Expect(g.Do("POST", "/v1/alerts/nope/acknowledge", nil), 404, "not_found")
	g.Expect(g.Do("POST", "/v1/alerts/a99999"+strings.Repeat("0", 24)+"/acknowledge", nil), 404, "not_found")
	if r := g.Do("POST", "/v1/alerts/"+second+"/acknowledge", `{"x":1}`); r.Status < 400 || r.Status >= 500 {
		t.Errorf("acknowledge with a body: %d %s", r.Status, r.Raw)
	}
	g.Expect(g.Do("GET", "/v1/alerts?status=closed", nil), 422, "validation_failed")
	g.Expect(g.Do("GET", "/v1/alerts?limit=0", nil), 422, "validation_failed")
	g.Expect(g.Do("GET", "/v1/alerts?cursor=bogus", nil), 422, "validation_failed")
	g.Expect(g.Do("GET", "/v1/alerts?sort=sku", nil), 422, "validation_failed")

	// The acknowledged alert resolves when the stock recovers.
	g.Expect(g.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": 10, "reason": "receive"}`), 200, "")
	if got := list(""); len(got) != 0 {
		t.Errorf("active after restock: %v", got)
	}
	g.Expect(g.Do("POST", "/v1/alerts/"+second+"/acknowledge", nil), 409, "invalid_state")
	c.RequireInvariants(t, true)
}

// expectedAlert is an alert the listing must show, computed from the rows.
type expectedAlert struct {
	sku, kind string
	rank      int
	gap       *big.Int // available - threshold in millionths
}

func expectedAlerts(rows []catalogueRow, category *string) []expectedAlert {
	var out []expectedAlert
	for _, r := range rows {
		if category != nil && r.category != *category {
			continue
		}
		avail := r.onHand - r.reserved
		gap := new(big.Int).Mul(big.NewInt(avail-r.thresh), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(6-r.scale)), nil))
		if avail == 0 {
			out = append(out, expectedAlert{r.sku, "out_of_stock", 0, gap})
		}
		if r.thresh > 0 && avail <= r.thresh {
			out = append(out, expectedAlert{r.sku, "low_stock", 1, gap})
		}
	}
	slices.SortFunc(out, func(a, b expectedAlert) int {
		if c := cmp.Compare(a.rank, b.rank); c != 0 {
			return c
		}
		if c := a.gap.Cmp(b.gap); c != 0 {
			return c
		}
		return cmp.Compare(a.sku, b.sku)
	})
	return out
}

// walkAlerts follows next_cursor from the first page and returns "sku kind" of every alert.
func walkAlerts(t *testing.T, g *clustertest.Gateway, query string, limit int) []string {
	t.Helper()
	var out []string
	path := fmt.Sprintf("/v1/alerts?limit=%d%s", limit, query)
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("too many pages")
		}
		r := g.Expect(g.Do("GET", path, nil), 200, "")
		for _, a := range r.Body["alerts"].([]any) {
			m := a.(map[string]any)
			out = append(out, m["sku"].(string)+" "+m["kind"].(string))
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return out
		}
		path = fmt.Sprintf("/v1/alerts?limit=%d%s&cursor=%s", limit, query, url.QueryEscape(next))
	}
}

func alertNames(es []expectedAlert) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.sku + " " + e.kind
	}
	return out
}

// A bulk-loaded catalogue gets its alerts from the reconcile pass; the listing is ordered most
// urgent first across shards and scales, pages exactly, filters by category; with a shard
// stopped it is 503, or partial with ?partial=true.
func TestAlertListing(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 3, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = 5 * time.Second })
	top := c.Topology(t)
	stores := c.Stores(t)
	rng := rand.New(rand.NewPCG(11, 13))
	loadCatalogue(t, top, stores, randomCatalogue(rng, 800, "L"))
	names := make([]string, len(c.Shards))
	for i, s := range c.Shards {
		names[i] = s.Name
	}
	all := ownedRows(t, top, stores, names...)
	want := expectedAlerts(all, nil)
	if len(want) < 100 {
		t.Fatalf("only %d alerts expected: a weak test", len(want))
	}

	ctx := context.Background()
	if got := walkAlerts(t, g, "", 1000); len(got) != 0 {
		t.Fatalf("alerts before reconcile: %d", len(got))
	}
	fixed := g.Server.ReconcileAlertsOnce(ctx)
	if fixed.Opened != len(want) || fixed.Resolved != 0 || fixed.Relinked != 0 {
		t.Fatalf("reconcile %+v, want %d opened", fixed, len(want))
	}
	if again := g.Server.ReconcileAlertsOnce(ctx); again.Total() != 0 {
		t.Errorf("second reconcile %+v", again)
	}
	metrics := g.Do("GET", "/metrics", nil)
	if line := fmt.Sprintf(`shardstock_alerts_reconciled_total{action="opened"} %d`, len(want)); !strings.Contains(string(metrics.Raw), line) {
		t.Errorf("metrics lack %q", line)
	}

	for _, limit := range []int{1000, 37, 1} {
		if limit == 1 {
			if got := walkAlerts(t, g, "", 1); !slices.Equal(got[:min(len(got), 50)], alertNames(want)[:50]) {
				t.Errorf("limit 1: first pages differ")
			}
			continue
		}
		if got := walkAlerts(t, g, "", limit); !slices.Equal(got, alertNames(want)) {
			t.Errorf("limit %d: %d alerts, want %d; first %v, want %v", limit, len(got), len(want), got[:min(5, len(got))], alertNames(want)[:5])
		}
	}
	for _, cat := range []string{"tools", "Küche", ""} {
		c := cat
		if got, w := walkAlerts(t, g, "&category="+url.QueryEscape(c), 23), alertNames(expectedAlerts(all, &c)); !slices.Equal(got, w) {
			t.Errorf("category %q: %d alerts, want %d", c, len(got), len(w))
		}
	}
	if got := walkAlerts(t, g, "&status=resolved", 100); len(got) != 0 {
		t.Errorf("resolved alerts: %d", len(got))
	}
	// A cursor is bound to its filter.
	r := g.Expect(g.Do("GET", "/v1/alerts?limit=2", nil), 200, "")
	next, _ := r.Body["next_cursor"].(string)
	g.Expect(g.Do("GET", "/v1/alerts?limit=2&status=open&cursor="+url.QueryEscape(next), nil), 422, "validation_failed")

	survivors := ownedRows(t, top, stores, names[0], names[2])
	if err := servers[1].Stop(); err != nil {
		t.Fatal(err)
	}
	r = g.Expect(g.Do("GET", "/v1/alerts", nil), 503, "shard_unavailable")
	if !strings.Contains(string(r.Raw), names[1]) {
		t.Errorf("503 does not name %s: %s", names[1], r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/alerts?partial=true&limit=1000", nil), 200, "")
	checkCoverage(t, "partial", r.Body, names[1])
	var got []string
	for _, a := range r.Body["alerts"].([]any) {
		m := a.(map[string]any)
		got = append(got, m["sku"].(string)+" "+m["kind"].(string))
	}
	if w := alertNames(expectedAlerts(survivors, nil)); !slices.Equal(got, w[:min(len(w), 1000)]) {
		t.Errorf("partial: %d alerts, want %d", len(got), len(w))
	}
}
