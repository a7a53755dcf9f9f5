package gateway_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// skusByShard returns n SKUs starting with prefix owned by each shard, in shard order.
func skusByShard(t *testing.T, c *clustertest.Cluster, prefix string, n int) [][]string {
	t.Helper()
	top := c.Topology(t)
	out := make([][]string, len(c.Shards))
	for i, found := 0, 0; found < n*len(c.Shards); i++ {
		sku := fmt.Sprintf("%s-%d", prefix, i)
		owner, _ := top.Map.Owner(router.Partition(sku, top.Partitions))
		for j, s := range c.Shards {
			if s.Name == owner && len(out[j]) < n {
				out[j] = append(out[j], sku)
				found++
			}
		}
	}
	return out
}

// keyedOp is one keyed write of the outage test and what became of it.
type keyedOp struct {
	sku, key, method, path, body string
	delta                        int // on_hand change once applied
	acked                        bool
}

// send sends the op once and reports its answer.
func (o *keyedOp) send(g *clustertest.Gateway) (clustertest.Response, error) {
	r, err := g.Try(o.method, o.path, o.body, "Idempotency-Key", o.key)
	if err == nil && r.Status < 300 {
		o.acked = true
	}
	return r, err
}

// With one shard SIGKILLed, keyed writes (Idempotency-Keys, adjustments and committed
// reservations, 8 clients) to SKUs on the live shards never fail, whichever shard their key's
// home partition is on; those to the dead shard's SKUs fail with 503 only. After the restart
// every write retried with its key is applied exactly once and the invariants hold.
func TestShardOutageCostsOnlyItsSKUs(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 3, clustertest.Options{Partitions: 64})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.HTTP.RequestTimeout = 5 * time.Second })
	const dead = 1
	bySKU := map[string]int{}
	var skus []string
	for shard, list := range skusByShard(t, c, "OUT", 4) {
		for _, sku := range list {
			g.Product(sku, 0, "100000")
			bySKU[sku] = shard
			skus = append(skus, sku)
		}
	}
	var mu sync.Mutex
	var ops []*keyedOp
	liveFailures, deadFailures, outageLive := 0, 0, 0
	var outage bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for cl := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				sku := skus[(cl*5+n)%len(skus)]
				op := &keyedOp{sku: sku, key: fmt.Sprintf("outage-%d-%d", cl, n), method: "POST", path: "/v1/products/" + sku + "/adjustments",
					body: `{"delta":2,"reason":"receive"}`, delta: 2}
				if n%2 == 1 {
					op.path, op.delta = "/v1/reservations", -1
					op.body = fmt.Sprintf(`{"order_id":"o-%d-%d","lines":[{"sku":%q,"quantity":1}],"commit":true}`, cl, n, sku)
				}
				mu.Lock()
				during := outage
				mu.Unlock()
				r, err := op.send(g)
				mu.Lock()
				ops = append(ops, op)
				switch {
				case err != nil:
					t.Errorf("%s %s: %v", op.method, op.path, err)
				case bySKU[sku] != dead && r.Status >= 300:
					liveFailures++
					t.Errorf("live shard's SKU %s failed: %d %s", sku, r.Status, r.Raw)
				case bySKU[sku] == dead && r.Status >= 300:
					deadFailures++
					if r.Status != 503 || r.ErrorCode() != "shard_unavailable" || r.Header.Get("Retry-After") == "" {
						t.Errorf("dead shard's SKU %s: %d %s, want 503 shard_unavailable with Retry-After", sku, r.Status, r.Raw)
					}
				case during && bySKU[sku] != dead:
					outageLive++
				}
				mu.Unlock()
			}
		})
	}
	setOutage := func(on bool) {
		mu.Lock()
		outage = on
		mu.Unlock()
	}
	time.Sleep(500 * time.Millisecond)
	setOutage(true)
	if err := servers[dead].Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := servers[dead].Restart(ctx); err != nil {
		t.Fatal(err)
	}
	setOutage(false)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d keyed writes: %d succeeded on live shards during the outage, %d failed on live shards, %d failed (503) on the dead shard",
		len(ops), outageLive, liveFailures, deadFailures)
	if deadFailures == 0 || outageLive == 0 {
		t.Fatalf("the outage was not exercised: %d dead-shard failures, %d live-shard writes during it", deadFailures, outageLive)
	}
	retryUntilAcked(t, g, ops)
	want := map[string]int{}
	for _, sku := range skus {
		want[sku] = 100000
	}
	for _, op := range ops {
		want[op.sku] += op.delta
	}
	for _, sku := range skus {
		if r := g.Do("GET", "/v1/products/"+sku, nil); r.Num("on_hand") != strconv.Itoa(want[sku]) {
			t.Errorf("%s on_hand = %s, want %d (every keyed write exactly once)", sku, r.Num("on_hand"), want[sku])
		}
	}
	c.RequireInvariants(t, true)
}

// retryUntilAcked retries every unacknowledged op with its key until it is acknowledged.
func retryUntilAcked(t *testing.T, g *clustertest.Gateway, ops []*keyedOp) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, op := range ops {
		for !op.acked {
			r, err := op.send(g)
			if err == nil && r.Status >= 300 && r.Status < 500 {
				t.Fatalf("retry of %s %s: %d %s", op.method, op.path, r.Status, r.Raw)
			}
			if !op.acked && time.Now().After(deadline) {
				t.Fatalf("retry of %s %s not acknowledged within a minute: %v %s", op.method, op.path, err, r.Raw)
			}
			if !op.acked {
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// A shard-down 503 names the shard, never its network address.
func TestShardDown503NamesTheShardNotItsAddress(t *testing.T) {
	c, servers := clustertest.NewOnServers(t, 2, clustertest.Options{Partitions: 16})
	g := c.StartGateway(t, gateway.Options{}, nil)
	sku := skusByShard(t, c, "ADDR", 1)[1][0]
	g.Product(sku, 0, "1")
	if err := servers[1].Kill(); err != nil {
		t.Fatal(err)
	}
	r := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 503, "shard_unavailable")
	port := strconv.Itoa(servers[1].Port())
	if !strings.Contains(string(r.Raw), c.Shards[1].Name) || strings.Contains(string(r.Raw), "127.0.0.1") || strings.Contains(string(r.Raw), port) {
		t.Errorf("503 body %s: want the shard's name (%s) and not its address (127.0.0.1:%s)", r.Raw, c.Shards[1].Name, port)
	}
}

// refOf is the change-log ref of a stock change under Idempotency-Key key sent with the
// cluster's admin key.
func refOf(t *testing.T, c *clustertest.Cluster, key string) string {
	return "idem:" + hex.EncodeToString(c.KeyHash(t, key)[:12])
}

// Two live gateways racing one key never apply it twice: concurrent copies of a keyed request
// sent to both give one answer and one change row; a copy that arrives while the first is still
// running (held on a row lock) waits for it instead of taking it over.
func TestTwoLiveGatewaysNeverApplyAKeyTwice(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 16})
	gw := []*clustertest.Gateway{c.StartGateway(t, gateway.Options{}, nil), c.StartGateway(t, gateway.Options{}, nil)}
	skus := []string{skusByShard(t, c, "RACE", 1)[0][0], skusByShard(t, c, "RACE", 1)[1][0]}
	for _, sku := range skus {
		gw[0].Product(sku, 0, "1000")
	}
	const keys, copies = 30, 6
	var wg sync.WaitGroup
	answers := make([][]string, keys)
	for k := range keys {
		answers[k] = make([]string, copies)
		for i := range copies {
			wg.Go(func() {
				r, err := gw[i%2].Try("POST", "/v1/products/"+skus[k%2]+"/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", fmt.Sprintf("race-%d", k))
				if err != nil || r.Status != 200 {
					t.Errorf("key %d copy %d: %v %d %s", k, i, err, r.Status, r.Raw)
				}
				answers[k][i] = string(r.Raw)
			})
		}
	}
	wg.Wait()
	stores := c.Stores(t)
	for k := range keys {
		for i := 1; i < copies; i++ {
			if answers[k][i] != answers[k][0] {
				t.Errorf("key %d: copies answered differently:\n%s\n%s", k, answers[k][0], answers[k][i])
			}
		}
		var rows int
		owner := c.Shards[k%2].Name
		if err := stores[owner].DB().QueryRow("SELECT COUNT(*) FROM changes WHERE ref = ?", refOf(t, c, fmt.Sprintf("race-%d", k))).Scan(&rows); err != nil || rows != 1 {
			t.Errorf("key %d: %d change rows (%v), want 1", k, rows, err)
		}
	}
	for _, sku := range skus {
		if r := gw[0].Do("GET", "/v1/products/"+sku, nil); r.Num("on_hand") != strconv.Itoa(1000+keys/2) {
			t.Errorf("%s on_hand = %s, want %d", sku, r.Num("on_hand"), 1000+keys/2)
		}
	}
	heldCopyWaits(t, c, gw, skus[0])
	c.RequireInvariants(t, true)
}

// heldCopyWaits holds sku's row so that a keyed request on gateway 0 stays in flight, sends the
// same request to gateway 1, and checks that it waited for the first one's answer.
func heldCopyWaits(t *testing.T, c *clustertest.Cluster, gw []*clustertest.Gateway, sku string) {
	t.Helper()
	st := c.Stores(t)[c.Shards[0].Name]
	tx, err := st.DB().Begin()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("SELECT on_hand FROM products WHERE sku = ? FOR UPDATE", sku); err != nil {
		t.Fatal(err)
	}
	const body, key = `{"delta":5,"reason":"receive"}`, "race-held"
	first, second := make(chan clustertest.Response, 1), make(chan clustertest.Response, 1)
	go func() {
		r, _ := gw[0].Try("POST", "/v1/products/"+sku+"/adjustments", body, "Idempotency-Key", key)
		first <- r
	}()
	time.Sleep(300 * time.Millisecond)
	go func() {
		r, _ := gw[1].Try("POST", "/v1/products/"+sku+"/adjustments", body, "Idempotency-Key", key)
		second <- r
	}()
	time.Sleep(1500 * time.Millisecond)
	select {
	case r := <-second:
		t.Fatalf("the copy answered while the first was still running: %d %s", r.Status, r.Raw)
	default:
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	a, b := <-first, <-second
	if a.Status != 200 || b.Status != 200 || string(a.Raw) != string(b.Raw) || b.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("held request %d %s; its copy %d %s (replayed %q): want one answer, replayed", a.Status, a.Raw, b.Status, b.Raw, b.Header.Get("Idempotent-Replayed"))
	}
	var rows int
	if err := st.DB().QueryRow("SELECT COUNT(*) FROM changes WHERE ref = ?", refOf(t, c, key)).Scan(&rows); err != nil || rows != 1 {
		t.Errorf("held key: %d change rows (%v), want 1", rows, err)
	}
}

// A key reused for a different request on another shard's data is idempotency_conflict (its
// home record remembers the first request), and nothing of the second request is applied.
func TestKeyReusedOnAnotherShardIsAConflict(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 16})
	g := c.StartGateway(t, gateway.Options{}, nil)
	by := skusByShard(t, c, "REUSE", 1)
	a, b := by[0][0], by[1][0]
	g.Product(a, 0, "10")
	g.Product(b, 0, "10")
	first := g.Expect(g.Do("POST", "/v1/products/"+a+"/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", "reuse-1"), 200, "")
	g.Expect(g.Do("POST", "/v1/products/"+b+"/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", "reuse-1"), 422, "idempotency_conflict")
	g.Expect(g.Do("PUT", "/v1/products/"+b+"/stock", `{"on_hand":3}`, "Idempotency-Key", "reuse-1"), 422, "idempotency_conflict")
	if r := g.Do("POST", "/v1/products/"+a+"/adjustments", `{"delta":1,"reason":"receive"}`, "Idempotency-Key", "reuse-1"); string(r.Raw) != string(first.Raw) {
		t.Errorf("replay = %s, want %s", r.Raw, first.Raw)
	}
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"`+b+`","quantity":1}]}`, "Idempotency-Key", "reuse-2"), 201, "")
	g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"`+a+`","quantity":1}]}`, "Idempotency-Key", "reuse-2"), 422, "idempotency_conflict")
	if r := g.Do("GET", "/v1/products/"+a, nil); r.Num("on_hand") != "11" || r.Num("reserved") != "0" {
		t.Errorf("%s after the conflicts: %s", a, r.Raw)
	}
	if r := g.Do("GET", "/v1/products/"+b, nil); r.Num("on_hand") != "10" || r.Num("reserved") != "1" {
		t.Errorf("%s after the conflicts: %s", b, r.Raw)
	}
	c.RequireInvariants(t, true)
}
