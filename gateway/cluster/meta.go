package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// metaFailuresToOpen is how many failed metadata-store calls in a row open the breaker.
const metaFailuresToOpen = 2

// metaGuard bounds the gateway's calls to the metadata store and fails them fast while the store
// is down: every call gets the meta timeout; after metaFailuresToOpen calls in a row failed to
// reach the store (or did not answer in time) the breaker opens and calls fail at once with
// meta_unavailable for the cooldown; then one call at a time goes through as a probe, and the
// first that succeeds closes the breaker.
type metaGuard struct {
	timeout, cooldown time.Duration

	mu        sync.Mutex
	failures  int       // calls in a row that failed to reach the store
	openUntil time.Time // while failures >= metaFailuresToOpen: no call before this
	probing   bool      // a probe is in flight
}

// admit says whether a call may go to the store now, and whether it is the probe of an open
// breaker.
func (g *metaGuard) admit(now time.Time) (probe bool, err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.failures < metaFailuresToOpen {
		return false, nil
	}
	if now.Before(g.openUntil) || g.probing {
		return false, &inventory.Error{Code: inventory.CodeMetaUnavailable,
			Message: "the metadata store is unavailable (it failed the last calls; the gateway retries it every " + g.cooldown.String() + ")"}
	}
	g.probing = true
	return true, nil
}

// record notes the outcome of an admitted call: failed (the store was not reached or did not
// answer), succeeded, or unknown (the caller gave up first).
func (g *metaGuard) record(now time.Time, probe bool, failed, unknown bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe {
		g.probing = false
	}
	switch {
	case unknown:
	case failed:
		g.failures++
		if g.failures >= metaFailuresToOpen {
			g.openUntil = now.Add(g.cooldown)
		}
	default:
		g.failures = 0
	}
}

// open reports whether the breaker is open (the store failed the last calls).
func (g *metaGuard) open() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failures >= metaFailuresToOpen
}

// Meta runs fn against the metadata store under the meta timeout and the breaker. A call that
// cannot reach the store, or that gets no answer within the timeout, fails with
// meta_unavailable (503); while the store keeps failing, calls fail at once. op names the call
// in the metrics.
func (c *Client) Meta(ctx context.Context, op string, fn func(ctx context.Context, m *shard.Meta) error) error {
	probe, err := c.guard.admit(time.Now())
	if err != nil {
		c.metrics.metaFailures.WithLabelValues(op).Inc()
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, c.guard.timeout)
	defer cancel()
	start := time.Now()
	err = shard.AsMetaUnavailable(fn(cctx, c.meta))
	c.metrics.metaDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	unknown := err != nil && ctx.Err() != nil // the caller's deadline or cancellation, not the store's
	timedOut := err != nil && !unknown && cctx.Err() != nil
	if timedOut {
		err = &inventory.Error{Code: inventory.CodeMetaUnavailable,
			Message: fmt.Sprintf("the metadata store did not answer within %s", c.guard.timeout), Err: err}
	}
	failed := inventory.IsCode(err, inventory.CodeMetaUnavailable)
	c.guard.record(time.Now(), probe, failed, unknown)
	c.metrics.metaBreakerOpen.Set(boolGauge(c.guard.open()))
	if failed {
		c.metrics.metaFailures.WithLabelValues(op).Inc()
	}
	return err
}

// MetaValue is Meta for a call that returns a value; fn is often a method expression such as
// (*shard.Meta).CurrentVersion.
func MetaValue[T any](ctx context.Context, c *Client, op string, fn func(m *shard.Meta, ctx context.Context) (T, error)) (T, error) {
	var out T
	err := c.Meta(ctx, op, func(ctx context.Context, m *shard.Meta) error {
		var err error
		out, err = fn(m, ctx)
		return err
	})
	return out, err
}

// MetaWaiting is Meta for a call that may wait on a lock in the store for longer than the meta
// timeout (DeleteWebhook waits for the deliveries in flight to its webhook). The store is pinged
// first under the meta timeout and breaker, so a store that is down or frozen still fails fast;
// the call itself then runs under ctx alone, and only a failure to reach the store counts
// against the breaker.
func (c *Client) MetaWaiting(ctx context.Context, op string, fn func(ctx context.Context, m *shard.Meta) error) error {
	if err := c.Meta(ctx, "ping", func(ctx context.Context, m *shard.Meta) error { return m.Ping(ctx) }); err != nil {
		return err
	}
	start := time.Now()
	err := shard.AsMetaUnavailable(fn(ctx, c.meta))
	c.metrics.metaDuration.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if inventory.IsCode(err, inventory.CodeMetaUnavailable) && ctx.Err() == nil {
		c.guard.record(time.Now(), false, true, false)
		c.metrics.metaBreakerOpen.Set(boolGauge(c.guard.open()))
		c.metrics.metaFailures.WithLabelValues(op).Inc()
	}
	return err
}

// SinksValue is MetaValue for a call on the store's event delivery state (shard.Meta.Sinks);
// fn is often a method expression such as (*shard.Sinks).Webhooks.
func SinksValue[T any](ctx context.Context, c *Client, op string, fn func(sk *shard.Sinks, ctx context.Context) (T, error)) (T, error) {
	return MetaValue(ctx, c, op, func(m *shard.Meta, ctx context.Context) (T, error) { return fn(m.Sinks(), ctx) })
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// MetaKeys reads the API keys of the metadata store under the meta timeout and breaker (the
// auth cache's key store): while the store is down, a refresh fails at once and the cache keeps
// answering from the keys it has.
type MetaKeys struct{ c *Client }

// Keys returns the API keys of the metadata store, read through the guard.
func (c *Client) Keys() MetaKeys { return MetaKeys{c} }

// KeysVersion returns the keys' version (see shard.Meta.KeysVersion).
func (k MetaKeys) KeysVersion(ctx context.Context) (int64, error) {
	return MetaValue(ctx, k.c, "keys_version", (*shard.Meta).KeysVersion)
}

// LoadKeys returns every key (see shard.Meta.LoadKeys).
func (k MetaKeys) LoadKeys(ctx context.Context) (shard.KeySet, error) {
	return MetaValue(ctx, k.c, "load_keys", (*shard.Meta).LoadKeys)
}
