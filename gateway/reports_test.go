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
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// catalogueRow is a product row as the tests load and re-read it.
type catalogueRow struct {
	sku, name, category      string
	partition, scale         int
	onHand, reserved, thresh int64
	version                  int64
}

var reportCategories = []string{"", "garden", "Küche", "tools", "électronique", "Zubehör", "food", "bulk"}

// randomCatalogue makes n products with random scales (0-6), categories, thresholds, stock and
// reservations; a few have quantities near the 10^15 limit so sums exceed int64.
func randomCatalogue(rng *rand.Rand, n int, prefix string) []catalogueRow {
	prefixes := []string{"A", "a", "Z.", "b_", "0-", "m"}
	out := make([]catalogueRow, n)
	for i := range out {
		r := catalogueRow{
			sku:      fmt.Sprintf("%s%s%07d", prefix, prefixes[rng.IntN(len(prefixes))], i),
			category: reportCategories[rng.IntN(len(reportCategories))],
			scale:    rng.IntN(inventory.MaxScale + 1),
			version:  1 + rng.Int64N(5),
		}
		r.name = "Product " + r.sku
		switch k := rng.IntN(10); {
		case k == 0:
			r.onHand = 0
		case k == 1:
			r.onHand = inventory.MaxUnits - 1 - rng.Int64N(1000)
		default:
			r.onHand = rng.Int64N(1_000_000)
		}
		if rng.IntN(3) == 0 && r.onHand > 0 {
			r.reserved = rng.Int64N(r.onHand + 1)
		}
		if rng.IntN(5) == 0 {
			r.reserved = r.onHand // out of stock with reservations
		}
		avail := r.onHand - r.reserved
		switch rng.IntN(4) {
		case 0:
			r.thresh = 0
		case 1:
			r.thresh = avail // exactly at the threshold
		default:
			r.thresh = rng.Int64N(min(avail, 1_000_000_000)*2 + 10)
		}
		out[i] = r
	}
	return out
}

// loadCatalogue inserts rows straight into the shard that owns each one's partition, with
// multi-row INSERTs, shards in parallel.
func loadCatalogue(t testing.TB, top shard.Topology, stores map[string]*shard.Store, rows []catalogueRow) {
	t.Helper()
	byShard := map[string][]catalogueRow{}
	for i := range rows {
		rows[i].partition = router.Partition(rows[i].sku, top.Partitions)
		owner, _ := top.Map.Owner(rows[i].partition)
		byShard[owner] = append(byShard[owner], rows[i])
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(byShard))
	for name, rs := range byShard {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- insertRows(context.Background(), stores[name].DB(), rs)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func insertRows(ctx context.Context, db *sql.DB, rows []catalogueRow) error {
	const batch = 1000
	now := time.Now().UTC().Truncate(time.Microsecond)
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		var b strings.Builder
		b.WriteString(`INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved,
			low_stock_threshold, version, created_at, updated_at) VALUES `)
		args := make([]any, 0, len(chunk)*11)
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, r.sku, r.partition, r.name, r.category, r.scale, r.onHand, r.reserved, r.thresh, r.version, now, now)
		}
		if _, err := db.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// ownedRows reads every product row of the given shards and keeps those whose partition the
// shard owns in the topology (moved-out leftovers are not part of the catalogue).
func ownedRows(t *testing.T, top shard.Topology, stores map[string]*shard.Store, shards ...string) []catalogueRow {
	t.Helper()
	var out []catalogueRow
	for _, name := range shards {
		rows, err := stores[name].DB().Query(`SELECT sku, partition_id, name, category, scale, on_hand, reserved,
			low_stock_threshold, version FROM products`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var r catalogueRow
			if err := rows.Scan(&r.sku, &r.partition, &r.name, &r.category, &r.scale, &r.onHand, &r.reserved, &r.thresh, &r.version); err != nil {
				t.Fatal(err)
			}
			if owner, _ := top.Map.Owner(r.partition); owner == name {
				out = append(out, r)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	slices.SortFunc(out, func(a, b catalogueRow) int { return cmp.Compare(a.sku, b.sku) })
	return out
}

func ratUnits(units int64, scale int) *big.Rat {
	return new(big.Rat).SetFrac(big.NewInt(units), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil))
}

// expectedTotals are the figures of a set of rows, computed independently of the gateway.
type expectedTotals struct {
	products, lowStock, outOfStock int64
	onHand, reserved, available    big.Rat
}

func (e *expectedTotals) add(r catalogueRow) {
	e.products++
	avail := r.onHand - r.reserved
	e.onHand.Add(&e.onHand, ratUnits(r.onHand, r.scale))
	e.reserved.Add(&e.reserved, ratUnits(r.reserved, r.scale))
	e.available.Add(&e.available, ratUnits(avail, r.scale))
	if avail == 0 {
		e.outOfStock++
	} else if avail <= r.thresh {
		e.lowStock++
	}
}

var exactNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$`)

func checkDecimal(t *testing.T, what string, got any, want *big.Rat) {
	t.Helper()
	n, ok := got.(json.Number)
	if !ok || !exactNumber.MatchString(n.String()) {
		t.Errorf("%s: %v is not an exact decimal without trailing zeros", what, got)
		return
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok || r.Cmp(want) != 0 {
		t.Errorf("%s = %s, want %s", what, n, want.FloatString(6))
	}
}

func checkCount(t *testing.T, what string, got any, want int64) {
	t.Helper()
	if n, ok := got.(json.Number); !ok || n.String() != fmt.Sprint(want) {
		t.Errorf("%s = %v, want %d", what, got, want)
	}
}

func checkTotals(t *testing.T, what string, body map[string]any, e *expectedTotals) {
	t.Helper()
	checkCount(t, what+" products", body["products"], e.products)
	checkCount(t, what+" low_stock", body["low_stock"], e.lowStock)
	checkCount(t, what+" out_of_stock", body["out_of_stock"], e.outOfStock)
	checkDecimal(t, what+" on_hand", body["on_hand"], &e.onHand)
	checkDecimal(t, what+" reserved", body["reserved"], &e.reserved)
	checkDecimal(t, what+" available", body["available"], &e.available)
}

func checkCoverage(t *testing.T, what string, body map[string]any, missing ...string) {
	t.Helper()
	partial, _ := body["partial"].(bool)
	ms, ok := body["missing_shards"].([]any)
	got := []string{}
	for _, m := range ms {
		got = append(got, m.(string))
	}
	if !ok || partial != (len(missing) > 0) || !slices.Equal(got, append([]string{}, missing...)) {
		t.Errorf("%s: partial=%v missing_shards=%v, want missing %v", what, body["partial"], body["missing_shards"], missing)
	}
}

// checkProducts compares a list of product representations with rows, in order.
func checkProducts(t *testing.T, what string, got any, want []catalogueRow) {
	t.Helper()
	list, _ := got.([]any)
	if len(list) != len(want) {
		t.Errorf("%s: %d products, want %d", what, len(list), len(want))
		return
	}
	for i, item := range list {
		p := item.(map[string]any)
		w := want[i]
		if p["sku"] != w.sku || p["name"] != w.name || p["category"] != w.category || fmt.Sprint(p["scale"]) != fmt.Sprint(w.scale) ||
			fmt.Sprint(p["version"]) != fmt.Sprint(w.version) {
			t.Errorf("%s[%d] = %v, want %+v", what, i, p, w)
			return
		}
		checkDecimal(t, what+" on_hand", p["on_hand"], ratUnits(w.onHand, w.scale))
		checkDecimal(t, what+" reserved", p["reserved"], ratUnits(w.reserved, w.scale))
		checkDecimal(t, what+" available", p["available"], ratUnits(w.onHand-w.reserved, w.scale))
		checkDecimal(t, what+" low_stock_threshold", p["low_stock_threshold"], ratUnits(w.thresh, w.scale))
	}
}

// checkReports compares every report and every listing page with figures computed from rows.
func checkReports(t *testing.T, g *clustertest.Gateway, rows []catalogueRow, query string, missing ...string) {
	t.Helper()
	var total expectedTotals
	perCategory := map[string]*expectedTotals{}
	for _, r := range rows {
		total.add(r)
		if perCategory[r.category] == nil {
			perCategory[r.category] = &expectedTotals{}
		}
		perCategory[r.category].add(r)
	}

	r := g.Expect(g.Do("GET", "/v1/stats/summary"+query, nil), 200, "")
	checkTotals(t, "summary", r.Body, &total)
	checkCoverage(t, "summary", r.Body, missing...)
	if at, err := time.Parse(time.RFC3339Nano, r.Str("as_of")); err != nil || time.Since(at) > time.Minute || !strings.HasSuffix(r.Str("as_of"), "Z") {
		t.Errorf("as_of %q is not a current RFC 3339 UTC time", r.Str("as_of"))
	}

	r = g.Expect(g.Do("GET", "/v1/stats/categories"+query, nil), 200, "")
	checkCoverage(t, "categories", r.Body, missing...)
	cats, _ := r.Body["categories"].([]any)
	var names []string
	for c := range perCategory {
		names = append(names, c)
	}
	slices.Sort(names)
	if len(cats) != len(names) {
		t.Fatalf("categories: %d, want %d: %s", len(cats), len(names), r.Raw)
	}
	for i, c := range cats {
		m := c.(map[string]any)
		if m["category"] != names[i] {
			t.Errorf("categories[%d] = %q, want %q", i, m["category"], names[i])
			continue
		}
		checkTotals(t, "category "+names[i], m, perCategory[names[i]])
	}

	// Low-stock ranking: (available - threshold) as an exact decimal, then SKU.
	low := func(category *string) []catalogueRow {
		var out []catalogueRow
		for _, r := range rows {
			if r.onHand-r.reserved <= r.thresh && (category == nil || r.category == *category) {
				out = append(out, r)
			}
		}
		slices.SortFunc(out, func(a, b catalogueRow) int {
			if c := ratUnits(a.onHand-a.reserved-a.thresh, a.scale).Cmp(ratUnits(b.onHand-b.reserved-b.thresh, b.scale)); c != 0 {
				return c
			}
			return cmp.Compare(a.sku, b.sku)
		})
		return out
	}
	sep := "?"
	if query != "" {
		sep = query + "&"
	}
	for _, limit := range []int{1, 50, 1000} {
		want := low(nil)
		r = g.Expect(g.Do("GET", fmt.Sprintf("/v1/stats/low-stock%slimit=%d", sep, limit), nil), 200, "")
		checkProducts(t, fmt.Sprintf("low-stock limit %d", limit), r.Body["products"], want[:min(limit, len(want))])
		checkCoverage(t, "low-stock", r.Body, missing...)
	}
	r = g.Expect(g.Do("GET", "/v1/stats/low-stock"+query, nil), 200, "")
	want := low(nil)
	checkProducts(t, "low-stock default limit", r.Body["products"], want[:min(50, len(want))])
	for _, c := range names {
		want := low(&c)
		r = g.Expect(g.Do("GET", "/v1/stats/low-stock"+sep+"limit=20&category="+url.QueryEscape(c), nil), 200, "")
		checkProducts(t, "low-stock category "+c, r.Body["products"], want[:min(20, len(want))])
	}

	// Every page of the listing, without and with a category.
	walk := func(what, params string, want []catalogueRow, limit int) {
		t.Helper()
		var got []any
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > len(want)/limit+2 {
				t.Fatalf("%s: too many pages", what)
			}
			path := fmt.Sprintf("/v1/products?limit=%d%s", limit, params)
			if query != "" {
				path += "&" + strings.TrimPrefix(query, "?")
			}
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			r := g.Expect(g.Do("GET", path, nil), 200, "")
			checkCoverage(t, what, r.Body, missing...)
			page, _ := r.Body["products"].([]any)
			got = append(got, page...)
			next, isString := r.Body["next_cursor"].(string)
			if _, present := r.Body["next_cursor"]; !present || (!isString && r.Body["next_cursor"] != nil) {
				t.Fatalf("%s: next_cursor must be a string or null: %s", what, r.Raw)
			}
			if !isString {
				break
			}
			if len(page) != limit {
				t.Errorf("%s: a page before the last has %d products, want %d", what, len(page), limit)
			}
			cursor = next
		}
		checkProducts(t, what, got, want)
	}
	walk("listing", "", rows, 37)
	for _, c := range names {
		var want []catalogueRow
		for _, r := range rows {
			if r.category == c {
				want = append(want, r)
			}
		}
		walk("listing "+c, "&category="+url.QueryEscape(c), want, 13)
	}
}

// TestReportsMatchRows loads thousands of random products over three shards and compares every
// report and every listing page with figures computed directly from the rows; then one shard
// is stopped: 503 by default, and ?partial=true answers exactly for the other shards.
func TestReportsMatchRows(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 3, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = 5 * time.Second })
	top := c.Topology(t)
	stores := c.Stores(t)

	rng := rand.New(rand.NewPCG(3, 7))
	loadCatalogue(t, top, stores, randomCatalogue(rng, 3000, "R"))
	// A few products through the API, with real reservations.
	for i := 0; i < 12; i++ {
		sku := fmt.Sprintf("API-%02d", i)
		g.Expect(g.Do("PUT", "/v1/products/"+sku, map[string]any{"name": "api " + sku, "category": reportCategories[i%len(reportCategories)],
			"scale": 1 + i%6, "low_stock_threshold": json.Number("2.5")}), 201, "")
		if i%4 != 0 {
			g.Expect(g.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta": 3.5, "reason": "receive"}`), 200, "")
			g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o`+sku+`","lines":[{"sku":"`+sku+`","quantity":1.5}]}`), 201, "")
		}
	}
	// A moved-out leftover: a row of a partition shard-1 does not own (as after a reshard,
	// before cleanup) must not be counted or listed.
	for i := 0; ; i++ {
		sku := fmt.Sprintf("STRAY-%d", i)
		p := router.Partition(sku, top.Partitions)
		if owner, _ := top.Map.Owner(p); owner != c.Shards[0].Name {
			if err := insertRows(context.Background(), stores[c.Shards[0].Name].DB(), []catalogueRow{{sku: sku, name: "stray",
				category: "tools", partition: p, onHand: 5, version: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := stores[c.Shards[0].Name].Mover().SetFences(context.Background(), inventory.FenceMovedOut, []int{p}); err != nil {
				t.Fatal(err)
			}
			break
		}
	}

	names := make([]string, len(c.Shards))
	for i, s := range c.Shards {
		names[i] = s.Name
	}
	all := ownedRows(t, top, stores, names...)
	if len(all) != 3012 {
		t.Fatalf("%d owned rows, want 3012", len(all))
	}
	t.Run("all shards", func(t *testing.T) {
		checkReports(t, g, all, "")
		checkReports(t, g, all, "?partial=true")
	})

	survivors := ownedRows(t, top, stores, names[0], names[2])
	if err := servers[1].Stop(); err != nil {
		t.Fatal(err)
	}
	t.Run("one shard down", func(t *testing.T) {
		for _, path := range []string{"/v1/stats/summary", "/v1/stats/categories", "/v1/stats/low-stock", "/v1/products?limit=10", "/v1/products?category=tools"} {
			r := g.Expect(g.Do("GET", path, nil), 503, "shard_unavailable")
			details, _ := r.Body["error"].(map[string]any)["details"].(map[string]any)
			if fmt.Sprint(details["shards"]) != "["+names[1]+"]" || r.Header.Get("Retry-After") == "" {
				t.Errorf("%s: want details.shards [%s] and Retry-After: %v %s", path, names[1], r.Header, r.Raw)
			}
		}
		checkReports(t, g, survivors, "?partial=true", names[1])
	})
}

// A shard that does not answer (its products table is locked) cannot hold a report longer than
// reports.shard_timeout: the report is 503, or 200 partial with ?partial=true.
func TestReportSlowShard(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Reports.ShardTimeout = 300 * time.Millisecond })
	for _, sku := range c.SKUsPerShard(t, "SLOW") {
		g.Product(sku, 0, "4")
	}
	stores := c.Stores(t)
	slow := c.Shards[1].Name
	ctx := context.Background()
	conn, err := stores[slow].DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "LOCK TABLES products WRITE"); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/stats/summary", "/v1/stats/categories", "/v1/stats/low-stock", "/v1/products"} {
		start := time.Now()
		r := g.Expect(g.Do("GET", path, nil), 503, "shard_unavailable")
		if !strings.Contains(string(r.Raw), slow) {
			t.Errorf("%s: 503 does not name %s: %s", path, slow, r.Raw)
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		r = g.Expect(g.Do("GET", path+sep+"partial=true", nil), 200, "")
		checkCoverage(t, path, r.Body, slow)
		// Generous bound: the lock would hold the query for the whole request timeout (10 s).
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: two requests took %s with a 300ms shard timeout", path, d)
		}
	}
	r := g.Expect(g.Do("GET", "/v1/stats/summary?partial=true", nil), 200, "")
	checkCount(t, "partial products", r.Body["products"], 2)
	if _, err := conn.ExecContext(ctx, "UNLOCK TABLES"); err != nil {
		t.Fatal(err)
	}
	r = g.Expect(g.Do("GET", "/v1/stats/summary", nil), 200, "")
	checkCount(t, "products", r.Body["products"], 3)
	checkCoverage(t, "after unlock", r.Body)

	resp := g.Do("GET", "/metrics", nil)
	for _, want := range []string{
		`shardstock_report_duration_seconds_bucket{report="summary"`,
		`shardstock_report_shard_duration_seconds_bucket{report="low_stock",shard="` + slow + `"`,
		`shardstock_report_shard_failures_total{report="listing",shard="` + slow + `"} 2`,
	} {
		if !strings.Contains(string(resp.Raw), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Listing and report parameters are validated; a cursor cannot be forged, edited or reused
// with another category.
func TestListingCursorAndParameters(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	for i := 0; i < 5; i++ {
		g.Expect(g.Do("PUT", fmt.Sprintf("/v1/products/C-%d", i), map[string]any{"name": "n", "category": "tools"}), 201, "")
	}
	r := g.Expect(g.Do("GET", "/v1/products?category=tools&limit=2", nil), 200, "")
	cursor := r.Str("next_cursor")
	if cursor == "" || strings.Contains(cursor, "C-1") {
		t.Fatalf("next_cursor %q should be an opaque string: %s", cursor, r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/products?category=tools&limit=2&cursor="+url.QueryEscape(cursor), nil), 200, "")
	if ps := r.Body["products"].([]any); len(ps) != 2 || ps[0].(map[string]any)["sku"] != "C-2" {
		t.Errorf("second page: %s", r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/products?category=tools&limit=5", nil), 200, "")
	if v, ok := r.Body["next_cursor"]; !ok || v != nil {
		t.Errorf("last page must have next_cursor null: %s", r.Raw)
	}
	tampered := []byte(cursor)
	tampered[len(tampered)/2] ^= 1
	for _, bad := range []string{
		"/v1/products?category=tools&cursor=" + url.QueryEscape(string(tampered)),
		"/v1/products?category=tools&cursor=garbage!!",
		"/v1/products?category=tools&cursor=",
		"/v1/products?category=other&cursor=" + url.QueryEscape(cursor),
		"/v1/products?cursor=" + url.QueryEscape(cursor),
		"/v1/products?limit=0", "/v1/products?limit=1001", "/v1/products?limit=x", "/v1/products?limit=",
		"/v1/products?category=tools&foo=1", "/v1/products?partial=yes",
		"/v1/stats/low-stock?limit=0", "/v1/stats/low-stock?limit=1001", "/v1/stats/low-stock?limit=-1",
		"/v1/stats/summary?limit=5", "/v1/stats/categories?partial=1",
	} {
		g.Expect(g.Do("GET", bad, nil), 422, "validation_failed")
	}
	r = g.Expect(g.Do("GET", "/v1/stats/low-stock?limit=1000&category=tools", nil), 200, "")
	if ps := r.Body["products"].([]any); len(ps) != 5 || ps[0].(map[string]any)["low_stock_gap"].(json.Number) != "0" {
		t.Errorf("low-stock: %s", r.Raw)
	}
	checkCoverage(t, "low-stock", r.Body)
}
