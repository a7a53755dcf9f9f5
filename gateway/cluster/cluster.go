// Package cluster is how the gateway reaches its shards: the topology cache (loaded at start,
// polled, refreshed at once when a shard reports a partition it does not own) with a connection
// pool per shard, routing of an operation to the owner of its partition with a retry when the
// partition moved, fan-out of line groups and scatter-gather over every shard, and the shard
// metrics (latency, failures, retries, pools). The HTTP handlers, the reservation saga and the
// event relay all use one Client; it knows nothing about them.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// Options configure a Client.
type Options struct {
	Pool shard.PoolOptions
	// MovedRetryBudget bounds how long an operation on a moving partition is retried (refreshing
	// the topology) before its partition_moved error is returned.
	MovedRetryBudget time.Duration
	// ShardTimeout bounds each shard's part of a scatter-gather.
	ShardTimeout time.Duration
	// MetaTimeout bounds each call to the metadata store (default 500ms); MetaCooldown is how
	// long calls fail fast once the store failed the last ones (default 1s). See Meta.
	MetaTimeout, MetaCooldown time.Duration
	Logger                    *slog.Logger
	// Registry receives the shard metrics.
	Registry prometheus.Registerer
}

// Client holds the current topology and reaches the shards through it.
type Client struct {
	meta    *shard.Meta
	opts    Options
	log     *slog.Logger
	metrics *metrics
	guard   *metaGuard
	current atomic.Pointer[Snapshot]

	mu     sync.Mutex // guards stores and serialises loads
	stores map[string]*shard.Store

	refreshMu  sync.Mutex
	refreshing chan struct{}
}

// New creates a client over the metadata store and registers its metrics; call Load before use.
func New(meta *shard.Meta, opts Options) *Client {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MetaTimeout <= 0 {
		opts.MetaTimeout = 500 * time.Millisecond
	}
	if opts.MetaCooldown <= 0 {
		opts.MetaCooldown = time.Second
	}
	c := &Client{meta: meta, opts: opts, log: opts.Logger, stores: map[string]*shard.Store{},
		guard: &metaGuard{timeout: opts.MetaTimeout, cooldown: opts.MetaCooldown}}
	c.metrics = newMetrics(opts.Registry, c.poolStats)
	return c
}

// Load reads the topology from the metadata store and swaps it in if it is newer. It is the
// gateway's first load; later ones (Refresh, Poll) go through the meta timeout and breaker.
func (c *Client) Load(ctx context.Context) error {
	return c.load(ctx, c.meta.Load)
}

// reload is Load through the meta timeout and breaker.
func (c *Client) reload(ctx context.Context) error {
	return c.load(ctx, func(ctx context.Context) (shard.Topology, error) {
		return MetaValue(ctx, c, "load_topology", (*shard.Meta).Load)
	})
}

func (c *Client) load(ctx context.Context, read func(context.Context) (shard.Topology, error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, err := read(ctx)
	if err != nil {
		return err
	}
	if cur := c.current.Load(); cur != nil && cur.version >= t.Version {
		return nil
	}
	snap := &Snapshot{version: t.Version, partitions: t.Partitions, owners: t.Map.Owners,
		stores: map[string]*shard.Store{}, shards: t.Shards}
	for name, info := range t.Shards {
		st, ok := c.stores[name]
		if !ok {
			st, err = shard.Open(name, info.DSN, c.opts.Pool)
			if err != nil {
				return err
			}
			c.stores[name] = st
		}
		snap.stores[name] = st
	}
	for _, o := range snap.owners {
		if _, ok := snap.stores[o]; !ok {
			return fmt.Errorf("topology version %d names unknown shard %q", t.Version, o)
		}
	}
	c.current.Store(snap)
	c.log.Info("topology loaded", "version", t.Version, "partitions", t.Partitions, "shards", len(t.Shards))
	c.metrics.topologyVersion.Set(float64(t.Version))
	return nil
}

// Current returns the current snapshot (nil before the first Load).
func (c *Client) Current() *Snapshot { return c.current.Load() }

// PartitionOf returns the partition of a routing key (a SKU, or any key the caller partitions).
func (c *Client) PartitionOf(key string) int {
	return router.Partition(key, c.Current().partitions)
}

// Refresh reloads the topology; concurrent callers share one reload.
func (c *Client) Refresh(ctx context.Context) error {
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
	err := c.reload(ctx)
	c.refreshMu.Lock()
	c.refreshing = nil
	c.refreshMu.Unlock()
	close(ch)
	return err
}

// Poll checks the version every interval and reloads when it changed, until ctx is done.
func (c *Client) Poll(ctx context.Context, interval time.Duration) {
	worker.Every(ctx, interval, func() { c.pollOnce(ctx) })
}

// pollOnce reads the published version (through the meta timeout and breaker) and reloads the
// topology when it is newer.
func (c *Client) pollOnce(ctx context.Context) {
	v, err := MetaValue(ctx, c, "topology_version", (*shard.Meta).CurrentVersion)
	if err != nil {
		if ctx.Err() == nil {
			c.log.Warn("topology poll failed", "err", err)
		}
		return
	}
	if cur := c.Current(); cur == nil || v > cur.version {
		if err := c.Refresh(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("topology reload failed", "err", err)
		}
	}
}

// Close closes every shard pool.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stores {
		st.Close()
	}
	c.stores = map[string]*shard.Store{}
}

// errNoTopology is returned while no topology is loaded.
var errNoTopology = errors.New("no topology loaded")
