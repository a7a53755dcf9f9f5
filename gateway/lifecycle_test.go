package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

func TestReservationLifecycle(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "L")
	for _, s := range skus {
		g.Product(s, 0, "10")
	}
	for _, name := range []string{"single-shard", "cross-shard"} {
		t.Run(name, func(t *testing.T) {
			lines := `[{"sku":"` + skus[0] + `","quantity":2}]`
			if name == "cross-shard" {
				lines = `[{"sku":"` + skus[0] + `","quantity":2},{"sku":"` + skus[1] + `","quantity":2}]`
			}
			before := g.Do("GET", "/v1/products/"+skus[0], nil)
			r := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"ord-1","lines":`+lines+`,"ttl_seconds":600}`), 201, "")
			id := r.Str("id")
			if r.Str("status") != "held" || r.Str("order_id") != "ord-1" || r.Str("expires_at") == "" {
				t.Fatalf("created: %s", r.Raw)
			}
			exp, err := time.Parse(time.RFC3339Nano, r.Str("expires_at"))
			if err != nil || time.Until(exp) < 590*time.Second || time.Until(exp) > 610*time.Second {
				t.Errorf("expires_at %s is not ~600 s ahead", r.Str("expires_at"))
			}
			g.Expect(g.Do("GET", "/v1/reservations/"+id, nil), 200, "")
			p := g.Do("GET", "/v1/products/"+skus[0], nil)
			if p.Num("reserved") != add(before.Num("reserved"), 2) {
				t.Errorf("reserved %s after hold (before %s)", p.Num("reserved"), before.Num("reserved"))
			}
			r = g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", nil), 200, "")
			if r.Str("status") != "committed" {
				t.Errorf("commit: %s", r.Raw)
			}
			again := g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", nil), 200, "")
			if again.Str("status") != "committed" {
				t.Errorf("repeated commit: %s", again.Raw)
			}
			p = g.Do("GET", "/v1/products/"+skus[0], nil)
			if p.Num("on_hand") != add(before.Num("on_hand"), -2) || p.Num("reserved") != before.Num("reserved") {
				t.Errorf("after commit: %s (before %s)", p.Raw, before.Raw)
			}
			g.Expect(g.Do("POST", "/v1/reservations/"+id+"/release", nil), 409, "invalid_state")

			id2 := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"ord-2","lines":`+lines+`}`), 201, "").Str("id")
			g.Expect(g.Do("POST", "/v1/reservations/"+id2+"/release", nil), 200, "")
			r = g.Expect(g.Do("POST", "/v1/reservations/"+id2+"/release", nil), 200, "")
			if r.Str("status") != "released" {
				t.Errorf("repeated release: %s", r.Raw)
			}
			g.Expect(g.Do("POST", "/v1/reservations/"+id2+"/commit", nil), 409, "invalid_state")

			r = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"ord-3","commit":true,"lines":`+lines+`}`), 201, "")
			if r.Str("status") != "committed" {
				t.Errorf("direct deduction: %s", r.Raw)
			}
		})
	}
	c.RequireInvariants(t, true)
}

func add(a string, d int) string {
	var n int
	fmt.Sscan(a, &n)
	return fmt.Sprint(n + d)
}

func TestOperationsEndpoints(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	reader := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead)})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.Expect(g.Do("GET", "/healthz", nil), 200, "")
	r := g.Expect(g.Do("GET", "/readyz", nil), 200, "")
	if r.Str("status") != "ready" {
		t.Errorf("readyz: %s", r.Raw)
	}
	r = g.Expect(g.Do("GET", "/v1/topology", nil), 200, "")
	if r.Num("version") != "1" || r.Num("partitions") != "64" || len(r.Body["shards"].([]any)) != 3 {
		t.Errorf("topology: %s", r.Raw)
	}
	total := 0
	for _, s := range r.Body["shards"].([]any) {
		var n int
		fmt.Sscan(s.(map[string]any)["partitions"].(interface{ String() string }).String(), &n)
		total += n
	}
	if total != 64 {
		t.Errorf("shards own %d partitions, want 64", total)
	}
	g.Product("M-1", 0, "1")
	// /metrics needs the admin scope on the API listener; the admin listener serves it openly.
	g.As("").Expect(g.As("").Do("GET", "/metrics", nil), 401, "unauthorized")
	g.As(reader.Token).Expect(g.As(reader.Token).Do("GET", "/metrics", nil), 403, "forbidden")
	m := g.Expect(g.Do("GET", "/metrics", nil), 200, "")
	admin := httptest.NewServer(g.Server.AdminHandler())
	defer admin.Close()
	open := clustertest.NewClient(t, admin.URL)
	if r := open.Do("GET", "/metrics", nil); r.Status != 200 || !strings.Contains(string(r.Raw), "shardstock_topology_version") {
		t.Errorf("admin listener /metrics: %d", r.Status)
	}
	if r := open.Do("GET", "/debug/pprof/", nil); r.Status != 200 {
		t.Errorf("admin listener pprof: %d", r.Status)
	}
	if r := g.Do("GET", "/debug/pprof/", nil); r.Status != 404 {
		t.Errorf("pprof on the API listener: %d", r.Status)
	}
	buf := new(strings.Builder)
	buf.Write(m.Raw)
	for _, want := range []string{
		`shardstock_http_requests_total{method="PUT",route="/v1/products/{sku}",status="201"} 1`,
		`shardstock_http_request_duration_seconds_bucket{method="POST",route="/v1/products/{sku}/adjustments",status="200"`,
		`shardstock_shard_query_duration_seconds_bucket{op="change_stock"`,
		`shardstock_shard_pool_open_connections{shard="shard-1"}`,
		`shardstock_topology_version 1`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func readAll(r *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// A shard that is down gives 503 shard_unavailable with Retry-After and the shard's name, for
// the requests that need it; the other shards keep serving.
func TestShardUnavailable(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 3, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = 5 * time.Second })
	skus := c.SKUsPerShard(t, "U")
	for _, s := range skus {
		g.Product(s, 0, "3")
	}
	if err := servers[1].Stop(); err != nil {
		t.Fatal(err)
	}
	r := g.Expect(g.Do("GET", "/v1/products/"+skus[1], nil), 503, "shard_unavailable")
	if r.Header.Get("Retry-After") == "" || !strings.Contains(string(r.Raw), c.Shards[1].Name) {
		t.Errorf("503 without Retry-After or shard name: %v %s", r.Header, r.Raw)
	}
	g.Expect(g.Do("POST", "/v1/products/"+skus[1]+"/adjustments", `{"delta":1,"reason":"receive"}`), 503, "shard_unavailable")
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"x","lines":[{"sku":"`+skus[0]+`","quantity":1},{"sku":"`+skus[1]+`","quantity":1}]}`), 503, "shard_unavailable")
	g.Expect(g.Do("GET", "/readyz", nil), 503, "shard_unavailable")
	g.Expect(g.Do("GET", "/v1/products/"+skus[0], nil), 200, "")
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"x","lines":[{"sku":"`+skus[2]+`","quantity":1}]}`), 201, "")
	if r := g.Do("GET", "/v1/products/"+skus[0], nil); r.Num("reserved") != "0" {
		t.Errorf("the failed cross-shard reservation left %s reserved on a healthy shard", r.Num("reserved"))
	}
}

// A gateway with a stale topology that writes to a partition's old shard is refused by the
// fence, refreshes its topology and retries on the new owner.
func TestStaleTopologyRefusedByFence(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Topology.PollInterval = time.Hour })
	sku := "MOVER-1"
	g.Product(sku, 0, "10")
	top := c.Topology(t)
	p := router.Partition(sku, top.Partitions)
	from, _ := top.Map.Owner(p)
	to := c.Shards[0].Name
	if to == from {
		to = c.Shards[1].Name
	}
	stores := c.Stores(t)
	ctx := context.Background()
	// Hand-made move of one partition: fence the source, copy the row and its ledger, own it on
	// the target, publish the map.
	if err := stores[from].Mover().SetFences(ctx, inventory.FenceMovedOut, []int{p}); err != nil {
		t.Fatal(err)
	}
	copyRows(t, stores[from], stores[to], sku)
	if err := stores[to].Mover().SetFences(ctx, inventory.FenceOwned, []int{p}); err != nil {
		t.Fatal(err)
	}
	mp := router.Map{Owners: append([]string(nil), top.Map.Owners...)}
	mp.Owners[p] = to
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	if _, err := meta.PublishMap(ctx, top.Version, mp, "test move"); err != nil {
		t.Fatal(err)
	}
	// A read through the stale gateway must come from the new owner, not the moved-out copy:
	// change the new owner's row behind everyone's back and look for it.
	if _, err := stores[to].DB().Exec("UPDATE products SET name = 'on the new owner' WHERE sku = ?", sku); err != nil {
		t.Fatal(err)
	}
	if r := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, ""); r.Str("name") != "on the new owner" {
		t.Errorf("stale gateway read the moved-out copy: %s", r.Raw)
	}
	if r := g.Expect(g.Do("GET", "/v1/products?sku="+sku, nil), 200, ""); !strings.Contains(string(r.Raw), "on the new owner") {
		t.Errorf("batch get read the moved-out copy: %s", r.Raw)
	}
	// Writes: the old shard's fence refuses, the gateway refreshes and retries on the new owner.
	r := g.Expect(g.Do("POST", "/v1/products/"+sku+"/adjustments", `{"delta":5,"reason":"receive"}`), 200, "")
	if r.Num("on_hand") != "15" {
		t.Errorf("after the move: %s", r.Raw)
	}
	var onOld int64
	if err := stores[from].DB().QueryRow("SELECT on_hand FROM products WHERE sku = ?", sku).Scan(&onOld); err != nil || onOld != 10 {
		t.Errorf("the moved-out copy changed: %d %v", onOld, err)
	}
	if r := g.Do("GET", "/v1/topology", nil); r.Num("version") != "2" {
		t.Errorf("gateway did not refresh its topology: %s", r.Raw)
	}
}

func copyRows(t *testing.T, from, to *shard.Store, sku string) {
	t.Helper()
	columns := map[string]string{
		"products": "sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at",
		"changes":  "seq, partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at",
	}
	for _, table := range []string{"products", "changes"} {
		rows, err := from.DB().Query("SELECT "+columns[table]+" FROM "+table+" WHERE sku = ?", sku)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			q := "INSERT INTO " + table + " (" + columns[table] + ") VALUES (" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
			if _, err := to.DB().Exec(q, vals...); err != nil {
				t.Fatal(err)
			}
		}
		rows.Close()
	}
}
