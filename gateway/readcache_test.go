package gateway_test

import (
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// With the read cache on, a gateway reads its own writes at once, and another gateway's writes
// within max_staleness.
func TestReadCache(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	cached := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) {
		cfg.ReadCache.Enabled = true
		cfg.ReadCache.MaxStaleness = 300 * time.Millisecond
	})
	other := c.StartGateway(t, gateway.Options{}, nil)
	cached.Product("RC-1", 0, "10")
	if r := cached.Do("GET", "/v1/products/RC-1", nil); r.Num("on_hand") != "10" {
		t.Fatalf("first read: %s", r.Raw)
	}
	cached.Expect(cached.Do("POST", "/v1/products/RC-1/adjustments", `{"delta":5,"reason":"receive"}`), 200, "")
	if r := cached.Do("GET", "/v1/products/RC-1", nil); r.Num("on_hand") != "15" {
		t.Errorf("own write not visible: %s", r.Raw)
	}
	cached.Expect(cached.Do("POST", "/v1/reservations", `{"order_id":"o","lines":[{"sku":"RC-1","quantity":2}]}`), 201, "")
	if r := cached.Do("GET", "/v1/products/RC-1", nil); r.Num("reserved") != "2" {
		t.Errorf("own reservation not visible: %s", r.Raw)
	}
	other.Expect(other.Do("POST", "/v1/products/RC-1/adjustments", `{"delta":1,"reason":"receive"}`), 200, "")
	stale := cached.Do("GET", "/v1/products/RC-1", nil).Num("on_hand")
	if stale != "15" && stale != "16" {
		t.Errorf("unexpected on_hand %s", stale)
	}
	time.Sleep(350 * time.Millisecond)
	if r := cached.Do("GET", "/v1/products/RC-1", nil); r.Num("on_hand") != "16" {
		t.Errorf("another gateway's write not visible after max_staleness: %s", r.Raw)
	}
}

// A lot receipt (a product path the cache knows nothing about) is a write too.
func TestReadCacheSeesLotReceipts(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) {
		cfg.ReadCache.Enabled = true
		cfg.ReadCache.MaxStaleness = time.Minute
	})
	g.Expect(g.Do("PUT", "/v1/products/RC-LOT", `{"name":"milk","scale":0}`), 201, "")
	g.Expect(g.Do("GET", "/v1/products/RC-LOT", nil), 200, "")
	exp := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	g.Expect(g.Do("POST", "/v1/products/RC-LOT/lots", `{"lot":"L1","quantity":6,"expires_at":"`+exp+`"}`), 201, "")
	if r := g.Do("GET", "/v1/products/RC-LOT", nil); r.Num("on_hand") != "6" {
		t.Errorf("cached product missed the lot receipt: %s", r.Raw)
	}
}

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
