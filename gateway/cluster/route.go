package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Timed runs one shard operation and records its latency and infrastructure failures.
func (c *Client) Timed(op string, st *shard.Store, fn func() error) error {
	start := time.Now()
	err := fn()
	c.metrics.shardDuration.WithLabelValues(st.Name(), op).Observe(time.Since(start).Seconds())
	if err != nil {
		if code := inventory.ErrorCode(err); code == inventory.CodeShardUnavailable || code == inventory.CodeInternal {
			c.metrics.shardErrors.WithLabelValues(st.Name(), op).Inc()
		}
	}
	return err
}

// OnPartition runs fn against the owner of partition p. When the shard answers that it does
// not own the partition (its fence is importing or moved_out), the topology is refreshed and fn
// retried on the new owner; a partition in cutover is waited for, up to the moved-retry budget,
// so clients see latency rather than errors.
func (c *Client) OnPartition(ctx context.Context, op string, p int, fn func(st *shard.Store) error) error {
	deadline := time.Now().Add(c.opts.MovedRetryBudget)
	for attempt := 0; ; attempt++ {
		snap := c.Current()
		st, err := snap.Owner(p)
		if err != nil {
			return err
		}
		err = c.Timed(op, st, func() error { return fn(st) })
		if !inventory.IsCode(err, inventory.CodePartitionMoved) || time.Now().After(deadline) {
			return err
		}
		c.metrics.movedRetries.Inc()
		if err := c.awaitNewTopology(ctx, snap.version, attempt); err != nil {
			return err
		}
	}
}

// awaitNewTopology refreshes the topology and, when nothing changed yet (a cutover is in
// progress), backs off briefly.
func (c *Client) awaitNewTopology(ctx context.Context, seen int64, attempt int) error {
	if err := c.Refresh(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if c.Current().version != seen {
		return nil
	}
	wait := time.Duration(min(5*(attempt+1), 50)) * time.Millisecond
	select {
	case <-time.After(wait):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OnLines groups lines by their owning shard and runs fn for every group in parallel. Groups
// whose partitions moved are regrouped on the refreshed topology and retried. Errors of all
// groups are merged: insufficient_stock lines are combined; otherwise the most severe wins.
func (c *Client) OnLines(ctx context.Context, op string, lines []shard.LineRequest, fn func(st *shard.Store, lines []shard.LineRequest) error) error {
	deadline := time.Now().Add(c.opts.MovedRetryBudget)
	pending := lines
	var errs []error
	for attempt := 0; len(pending) > 0; attempt++ {
		snap := c.Current()
		groups := map[*shard.Store][]shard.LineRequest{}
		for _, l := range pending {
			st, err := snap.Owner(l.Partition)
			if err != nil {
				return err
			}
			groups[st] = append(groups[st], l)
		}
		moved, failed := c.runGroups(op, groups, deadline, fn)
		errs = append(errs, failed...)
		pending = moved
		if len(pending) > 0 {
			c.metrics.movedRetries.Inc()
			if err := c.awaitNewTopology(ctx, snap.version, attempt); err != nil {
				return err
			}
		}
	}
	return mergeErrors(errs)
}

// runGroups runs fn for every group in parallel and returns the lines of the groups whose
// partitions moved (while the retry budget lasts) and the errors of the others.
func (c *Client) runGroups(op string, groups map[*shard.Store][]shard.LineRequest, deadline time.Time,
	fn func(st *shard.Store, lines []shard.LineRequest) error) (moved []shard.LineRequest, errs []error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for st, ls := range groups {
		wg.Go(func() {
			err := c.Timed(op, st, func() error { return fn(st, ls) })
			mu.Lock()
			defer mu.Unlock()
			if inventory.IsCode(err, inventory.CodePartitionMoved) && time.Now().Before(deadline) {
				moved = append(moved, ls...)
			} else if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	return moved, errs
}

// mergeErrors combines the errors of several shards into the one the client sees: an internal
// error wins; then shard_unavailable, naming every unavailable shard and keeping a reason
// (lock_contention from a busy shard) when one of them had one; then any other error; else the
// short lines of every shard as one insufficient_stock.
func mergeErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var short []inventory.ShortLine
	var unavailable []string
	var reason string
	var sawUnavailable bool
	var other error
	for _, err := range errs {
		switch inventory.ErrorCode(err) {
		case inventory.CodeInsufficientStock:
			short = append(short, inventory.ShortLines(err)...)
		case inventory.CodeShardUnavailable:
			sawUnavailable = true
			var de *inventory.Error
			if errors.As(err, &de) {
				if names, ok := de.Details["shards"].([]string); ok {
					unavailable = append(unavailable, names...)
				}
				if reason == "" {
					reason = reasonOf(de)
				}
			}
		default:
			if other == nil || inventory.ErrorCode(other) != inventory.CodeInternal {
				other = err
			}
		}
	}
	switch {
	case other != nil && inventory.ErrorCode(other) == inventory.CodeInternal:
		return other
	case sawUnavailable:
		return unavailableError(unavailable, reason)
	case other != nil:
		return other
	default:
		return inventory.Insufficient(short...)
	}
}

// reasonOf returns details.reason of a shard_unavailable error ("" when it has none).
func reasonOf(err error) string {
	var de *inventory.Error
	if !errors.As(err, &de) || de.Code != inventory.CodeShardUnavailable {
		return ""
	}
	r, _ := de.Details["reason"].(string)
	return r
}

// unavailableError is the merged shard_unavailable of several shards: the names of the shards
// that could not be reached ([] when none could not) and the reason, if one was given.
func unavailableError(shards []string, reason string) error {
	if shards == nil {
		shards = []string{}
	}
	details := map[string]any{"shards": shards}
	msg := "a shard needed for the request is unavailable"
	if reason != "" {
		details["reason"] = reason
		if reason == shard.ReasonLockContention && len(shards) == 0 {
			msg = "a shard needed for the request is busy: its transactions kept meeting lock conflicts; retry"
		}
	}
	return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: msg, Details: details}
}

// Products reads the products of the given lines from their shards in parallel (absent SKUs
// are missing from the map).
func (c *Client) Products(ctx context.Context, lines []shard.LineRequest) (map[string]shard.Product, error) {
	found := map[string]shard.Product{}
	var mu sync.Mutex
	err := c.OnLines(ctx, "get_products", lines, func(st *shard.Store, ls []shard.LineRequest) error {
		skus := make([]string, len(ls))
		parts := make([]int, len(ls))
		for i, l := range ls {
			skus[i], parts[i] = l.SKU, l.Partition
		}
		ps, err := st.GetProducts(ctx, skus, parts)
		if err != nil {
			return err
		}
		mu.Lock()
		for k, v := range ps {
			found[k] = v
		}
		mu.Unlock()
		return nil
	})
	return found, err
}
