package gateway

import (
	"sync"
	"time"

	"github.com/shardstock/shardstock/shard"
)

// readCache keeps recently read products for GET /v1/products/{sku}, off by default. An entry is
// served for at most maxStaleness after it was read from its shard, and this gateway drops it
// whenever it writes the SKU, so a client reading through the gateway it wrote through sees its
// own writes; other gateways' writes show up within maxStaleness.
type readCache struct {
	maxStaleness time.Duration
	maxEntries   int
	mu           sync.RWMutex
	entries      map[string]cachedProduct
}

type cachedProduct struct {
	p       shard.Product
	fetched time.Time
}

func newReadCache(maxStaleness time.Duration, maxEntries int) *readCache {
	return &readCache{maxStaleness: maxStaleness, maxEntries: maxEntries, entries: map[string]cachedProduct{}}
}

// get returns a cached product that is not older than maxStaleness (never from a nil cache).
func (c *readCache) get(sku string) (shard.Product, bool) {
	if c == nil {
		return shard.Product{}, false
	}
	c.mu.RLock()
	e, ok := c.entries[sku]
	c.mu.RUnlock()
	if !ok || time.Since(e.fetched) > c.maxStaleness {
		return shard.Product{}, false
	}
	return e.p, true
}

// put stores a product read at fetched (taken before the read, so staleness is never
// understated); a nil cache stores nothing.
func (c *readCache) put(p shard.Product, fetched time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.maxEntries {
		// Bounded: drop everything rather than track recency; a refill costs one read per SKU.
		c.entries = make(map[string]cachedProduct, c.maxEntries)
	}
	c.entries[p.SKU] = cachedProduct{p, fetched}
}

// invalidate drops the SKUs (a nil cache holds nothing). The endpoint wrapper calls it for every
// write to a /v1/products/{sku} path, the saga coordinator for the lines it writes.
func (c *readCache) invalidate(skus ...string) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range skus {
		delete(c.entries, s)
	}
}
