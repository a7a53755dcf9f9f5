package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// routeTable is one immutable snapshot of the topology with a store per shard.
type routeTable struct {
	version    int64
	partitions int
	owners     []string
	stores     map[string]*shard.Store
	shards     map[string]shard.Info

	byShardOnce sync.Once
	byShard     map[string][]int
}

// partitionsOf returns the partitions this snapshot assigns to the shard, ascending.
func (rt *routeTable) partitionsOf(name string) []int {
	rt.byShardOnce.Do(func() {
		rt.byShard = map[string][]int{}
		for p, o := range rt.owners {
			rt.byShard[o] = append(rt.byShard[o], p)
		}
	})
	return rt.byShard[name]
}

// owner returns the store that owns partition p in this snapshot.
func (rt *routeTable) owner(p int) (*shard.Store, error) {
	if p < 0 || p >= len(rt.owners) {
		return nil, fmt.Errorf("partition %d out of range", p)
	}
	st, ok := rt.stores[rt.owners[p]]
	if !ok {
		return nil, fmt.Errorf("partition %d: shard %q has no connection", p, rt.owners[p])
	}
	return st, nil
}

// activeStores returns the stores of every shard that owns at least one partition.
func (rt *routeTable) activeStores() []*shard.Store {
	seen := map[string]bool{}
	var out []*shard.Store
	for _, o := range rt.owners {
		if !seen[o] {
			seen[o] = true
			out = append(out, rt.stores[o])
		}
	}
	return out
}

// TopologyCache holds the current topology: loaded at start, polled, and refreshed at once when
// a shard reports a partition it does not own.
type TopologyCache struct {
	meta    *shard.Meta
	pool    shard.PoolOptions
	log     *slog.Logger
	current atomic.Pointer[routeTable]

	mu     sync.Mutex // guards stores and serialises reloads
	stores map[string]*shard.Store

	refreshMu    sync.Mutex
	refreshing   chan struct{}
	onNewVersion func(version int64)
}

// NewTopologyCache creates a cache over the metadata store; call Load before use.
func NewTopologyCache(meta *shard.Meta, pool shard.PoolOptions, log *slog.Logger) *TopologyCache {
	return &TopologyCache{meta: meta, pool: pool, log: log, stores: map[string]*shard.Store{}}
}

// Load reads the topology from the metadata store and swaps it in if it is newer.
func (c *TopologyCache) Load(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := c.meta.Load(ctx)
	if err != nil {
		return err
	}
	if cur := c.current.Load(); cur != nil && cur.version >= t.Version {
		return nil
	}
	rt := &routeTable{version: t.Version, partitions: t.Partitions, owners: t.Map.Owners,
		stores: map[string]*shard.Store{}, shards: t.Shards}
	for name, info := range t.Shards {
		st, ok := c.stores[name]
		if !ok {
			st, err = shard.Open(name, info.DSN, c.pool)
			if err != nil {
				return err
			}
			c.stores[name] = st
		}
		rt.stores[name] = st
	}
	for _, o := range rt.owners {
		if _, ok := rt.stores[o]; !ok {
			return fmt.Errorf("topology version %d names unknown shard %q", t.Version, o)
		}
	}
	c.current.Store(rt)
	if c.log != nil {
		c.log.Info("topology loaded", "version", t.Version, "partitions", t.Partitions, "shards", len(t.Shards))
	}
	if c.onNewVersion != nil {
		c.onNewVersion(t.Version)
	}
	return nil
}

// Current returns the current snapshot (nil before the first Load).
func (c *TopologyCache) Current() *routeTable { return c.current.Load() }

// Refresh reloads the topology; concurrent callers share one reload.
func (c *TopologyCache) Refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	if ch := c.refreshing; ch != nil {
		c.refreshMu.Unlock()
		select {
		case <-ch:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	ch := make(chan struct{})
	c.refreshing = ch
	c.refreshMu.Unlock()
	err := c.Load(ctx)
	c.refreshMu.Lock()
	c.refreshing = nil
	c.refreshMu.Unlock()
	close(ch)
	return err
}

// Poll checks the version every interval and reloads when it changed, until ctx is done.
func (c *TopologyCache) Poll(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		v, err := c.meta.CurrentVersion(ctx)
		if err != nil {
			if ctx.Err() == nil && c.log != nil {
				c.log.Warn("topology poll failed", "err", err)
			}
			continue
		}
		if cur := c.Current(); cur == nil || v > cur.version {
			if err := c.Refresh(ctx); err != nil && ctx.Err() == nil && c.log != nil {
				c.log.Warn("topology reload failed", "err", err)
			}
		}
	}
}

// Close closes every shard pool.
func (c *TopologyCache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stores {
		st.Close()
	}
	c.stores = map[string]*shard.Store{}
}

// partitionOf returns the partition of a routing key in the current topology.
func (c *TopologyCache) partitionOf(key string) int {
	return router.Partition(key, c.Current().partitions)
}

// errNoTopology is returned while no topology is loaded.
var errNoTopology = errors.New("no topology loaded")
