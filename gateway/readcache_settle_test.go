package gateway_test

import (
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// With the read cache and coalescing on, a coalesced commit that finds its reservation held
// past the TTL expires it (its stock comes back) and answers invalid_state: the gateway's next
// read of the SKU shows the stock back at once, not the cached reservation.
func TestReadCacheSeesExpiryByCoalescedCommit(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	// No workers: the recovery sweeper must not expire the reservation before the commit does.
	g := c.StartGateway(t, gateway.Options{DisableWorkers: true}, func(cfg *configs.Config) {
		cfg.ReadCache.Enabled = true
		cfg.ReadCache.MaxStaleness = time.Minute
		cfg.Coalesce.Enabled = true
	})
	g.Product("RC-EXP", 0, "10")
	r := g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"o","ttl_seconds":1,"lines":[{"sku":"RC-EXP","quantity":2}]}`), 201, "")
	id := r.Str("id")
	if p := g.Do("GET", "/v1/products/RC-EXP", nil); p.Num("reserved") != "2" {
		t.Fatalf("reservation not visible: %s", p.Raw)
	}
	time.Sleep(1200 * time.Millisecond)
	g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", nil), 409, "invalid_state")
	if got := g.Do("GET", "/v1/reservations/"+id, nil).Str("status"); got != "expired" {
		t.Fatalf("reservation is %q after a commit past its TTL", got)
	}
	if p := g.Do("GET", "/v1/products/RC-EXP", nil); p.Num("reserved") != "0" || p.Num("available") != "10" {
		t.Errorf("the commit expired the reservation but the cached product still shows it: %s", p.Raw)
	}
	c.RequireInvariants(t, true)
}
