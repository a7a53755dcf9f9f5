package gateway_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// A load tool's catalogue setup: many clients create the same new products at once (adjacent
// SKUs, so their inserts meet in the same index gaps), receive lots and adjust stock, with and
// without Idempotency-Keys. That deadlocks a lot; a deadlock or lock wait timeout is retried, and
// when retries run out it is 503 shard_unavailable with Retry-After: never 500.
func TestCatalogueSetupDeadlocksAreNeverInternal(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 16})
	g := c.StartGateway(t, gateway.Options{}, nil)
	expires := time.Now().Add(240 * time.Hour).UTC().Format(time.RFC3339)
	var mu sync.Mutex
	counts := map[string]int{}
	for round := range 6 {
		start := make(chan struct{})
		var wg sync.WaitGroup
		for cl := range 32 {
			wg.Go(func() {
				<-start
				for k := range 3 {
					sku := fmt.Sprintf("CAT-%02d-%d", round, (cl+k)%8)
					for i, rq := range [][3]string{
						{"PUT", "/v1/products/" + sku, `{"name":"Setup","low_stock_threshold":3}`},
						{"POST", "/v1/products/" + sku + "/lots", fmt.Sprintf(`{"lot":"L%d","quantity":2,"expires_at":%q}`, cl%3, expires)},
						{"POST", "/v1/products/" + sku + "/adjustments", `{"delta":1,"reason":"receive"}`},
					} {
						var key []string
						if cl%2 == 0 {
							key = []string{"Idempotency-Key", fmt.Sprintf("setup-%d-%d-%d-%d", round, cl, k, i)}
						}
						r, err := g.Try(rq[0], rq[1], rq[2], key...)
						if err != nil {
							t.Errorf("%s %s: %v", rq[0], rq[1], err)
							return
						}
						if r.Status >= 500 && (r.Status != 503 || r.Header.Get("Retry-After") == "") {
							t.Errorf("%s %s: %d (Retry-After %q) %s", rq[0], rq[1], r.Status, r.Header.Get("Retry-After"), r.Raw)
						}
						mu.Lock()
						counts[fmt.Sprintf("%d %s", r.Status, r.ErrorCode())]++
						mu.Unlock()
					}
				}
			})
		}
		close(start)
		wg.Wait()
	}
	deadlocks := 0
	for _, st := range c.Stores(t) {
		var name string
		var n int
		if err := st.DB().QueryRow("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'").Scan(&name, &n); err == nil {
			deadlocks = n // one server: the same figure for every shard
		}
	}
	t.Logf("answers by status: %v; deadlocks on the test server so far: %d", counts, deadlocks)
	c.RequireInvariants(t, true)
}
