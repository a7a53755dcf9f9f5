package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// timed runs one shard operation and records its latency and infrastructure failures.
func (s *Server) timed(op string, st *shard.Store, fn func() error) error {
	start := time.Now()
	err := fn()
	s.metrics.shardDuration.WithLabelValues(st.Name(), op).Observe(time.Since(start).Seconds())
	if err != nil {
		if c := inventory.ErrorCode(err); c == inventory.CodeShardUnavailable || c == inventory.CodeInternal {
			s.metrics.shardErrors.WithLabelValues(st.Name(), op).Inc()
		}
	}
	return err
}

// onPartition runs fn against the owner of partition p. When the shard answers that it does
// not own the partition (its fence is importing or moved_out), the topology is refreshed and fn
// retried on the new owner; a partition in cutover is waited for, up to the moved-retry budget,
// so clients see latency rather than errors.
func (s *Server) onPartition(ctx context.Context, op string, p int, fn func(st *shard.Store) error) error {
	deadline := time.Now().Add(s.cfg.Topology.MovedRetryBudget)
	for attempt := 0; ; attempt++ {
		rt := s.topo.Current()
		st, err := rt.owner(p)
		if err != nil {
			return err
		}
		err = s.timed(op, st, func() error { return fn(st) })
		if !inventory.IsCode(err, inventory.CodePartitionMoved) || time.Now().After(deadline) {
			return err
		}
		s.metrics.movedRetries.Inc()
		if err := s.awaitNewTopology(ctx, rt.version, attempt); err != nil {
			return err
		}
	}
}

// awaitNewTopology refreshes the topology and, when nothing changed yet (a cutover is in
// progress), backs off briefly.
func (s *Server) awaitNewTopology(ctx context.Context, seen int64, attempt int) error {
	if err := s.topo.Refresh(ctx); err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	if s.topo.Current().version != seen {
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

// onLines groups lines by their owning shard and runs fn for every group in parallel. Groups
// whose partitions moved are regrouped on the refreshed topology and retried. Errors of all
// groups are merged: insufficient_stock lines are combined; otherwise the most severe wins.
func (s *Server) onLines(ctx context.Context, op string, lines []shard.LineRequest, fn func(st *shard.Store, lines []shard.LineRequest) error) error {
	deadline := time.Now().Add(s.cfg.Topology.MovedRetryBudget)
	pending := lines
	var errs []error
	for attempt := 0; len(pending) > 0; attempt++ {
		rt := s.topo.Current()
		groups := map[*shard.Store][]shard.LineRequest{}
		for _, l := range pending {
			st, err := rt.owner(l.Partition)
			if err != nil {
				return err
			}
			groups[st] = append(groups[st], l)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		var moved []shard.LineRequest
		for st, ls := range groups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.timed(op, st, func() error { return fn(st, ls) })
				mu.Lock()
				defer mu.Unlock()
				if inventory.IsCode(err, inventory.CodePartitionMoved) && time.Now().Before(deadline) {
					moved = append(moved, ls...)
				} else if err != nil {
					errs = append(errs, err)
				}
			}()
		}
		wg.Wait()
		pending = moved
		if len(pending) > 0 {
			s.metrics.movedRetries.Inc()
			if err := s.awaitNewTopology(ctx, rt.version, attempt); err != nil {
				return err
			}
		}
	}
	return mergeErrors(errs)
}

// mergeErrors combines the errors of several shards into the one the client sees.
func mergeErrors(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	var short []inventory.ShortLine
	var unavailable []string
	var other error
	for _, err := range errs {
		switch inventory.ErrorCode(err) {
		case inventory.CodeInsufficientStock:
			short = append(short, inventory.ShortLines(err)...)
		case inventory.CodeShardUnavailable:
			var de *inventory.Error
			if errors.As(err, &de) {
				if names, ok := de.Details["shards"].([]string); ok {
					unavailable = append(unavailable, names...)
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
	case len(unavailable) > 0:
		return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "a shard needed for the request is unavailable",
			Details: map[string]any{"shards": unavailable}}
	case other != nil:
		return other
	default:
		return inventory.Insufficient(short...)
	}
}
