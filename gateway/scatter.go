package gateway

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// coverage says which shards a scatter-gather answer is made of. Every report and listing
// response carries it: "partial" is false and "missing_shards" empty unless the client asked
// for ?partial=true and some shard did not answer in time.
type coverage struct {
	Partial       bool     `json:"partial"`
	MissingShards []string `json:"missing_shards"`
}

// shardAnswer is one shard's result in a scatter-gather.
type shardAnswer[T any] struct {
	shard string
	value T
}

// scatterResult is what a scatter-gather produced: the answers of the shards that responded
// (in shard name order) and the coverage.
type scatterResult[T any] struct {
	answers []shardAnswer[T]
	coverage
}

// scatter runs query on every active shard in parallel and gathers the answers. It is the one
// coordinator every report and the catalogue listing use:
//   - each shard gets its own deadline, reports.shard_timeout, derived from the request's
//     context, so a cancelled client request cancels every shard query and a slow shard can
//     hold the answer no longer than its timeout (the gatherer stops waiting at the deadline
//     even if a driver call does not return);
//   - a shard that fails or times out is missing. Without allowPartial any missing shard fails
//     the whole request with 503 shard_unavailable naming the missing shards (details.shards);
//     with allowPartial the answers of the other shards are returned and coverage names the
//     missing ones;
//   - latency per report and per shard and failures per shard are recorded.
func scatter[T any](ctx context.Context, s *Server, report string, allowPartial bool,
	query func(ctx context.Context, st *shard.Store) (T, error)) (scatterResult[T], error) {
	start := time.Now()
	defer func() { s.metrics.reportDuration.WithLabelValues(report).Observe(time.Since(start).Seconds()) }()
	rt := s.topo.Current()
	if rt == nil {
		return scatterResult[T]{}, errNoTopology
	}
	stores := rt.activeStores()
	ctx, cancel := context.WithCancel(context.WithValue(ctx, scatterTopologyKey{}, rt))
	defer cancel() // stragglers past their deadline are cancelled when the gather returns
	type outcome struct {
		shard string
		value T
		err   error
	}
	results := make(chan outcome, len(stores)) // buffered: a straggler never blocks
	timeout := s.cfg.Reports.ShardTimeout
	deadline := time.Now().Add(timeout)
	for _, st := range stores {
		go func() {
			qctx, qcancel := context.WithDeadline(ctx, deadline)
			defer qcancel()
			t0 := time.Now()
			v, err := query(qctx, st)
			if err == nil && qctx.Err() != nil {
				err = qctx.Err() // answered after the deadline: too late to count
			}
			s.metrics.reportShardDuration.WithLabelValues(report, st.Name()).Observe(time.Since(t0).Seconds())
			results <- outcome{st.Name(), v, err}
		}()
	}
	var res scatterResult[T]
	failed := map[string]error{}
	timer := time.NewTimer(time.Until(deadline) + 50*time.Millisecond)
	defer timer.Stop()
	pending := map[string]bool{}
	for _, st := range stores {
		pending[st.Name()] = true
	}
gather:
	for len(pending) > 0 {
		select {
		case o := <-results:
			delete(pending, o.shard)
			if o.err != nil {
				failed[o.shard] = o.err
				continue
			}
			res.answers = append(res.answers, shardAnswer[T]{o.shard, o.value})
		case <-timer.C:
			// A driver call that ignores its context: give up on it.
			for name := range pending {
				failed[name] = context.DeadlineExceeded
			}
			break gather
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err // the client went away or the request deadline passed
	}
	slices.SortFunc(res.answers, func(a, b shardAnswer[T]) int { return cmp.Compare(a.shard, b.shard) })
	res.MissingShards = []string{}
	for name, err := range failed {
		res.MissingShards = append(res.MissingShards, name)
		s.metrics.reportShardFailures.WithLabelValues(report, name).Inc()
		if !errors.Is(err, context.DeadlineExceeded) && inventory.ErrorCode(err) != inventory.CodeShardUnavailable {
			s.log.Warn("report query failed", "report", report, "shard", name, "err", err)
		}
	}
	slices.Sort(res.MissingShards)
	if len(res.MissingShards) == 0 {
		return res, nil
	}
	if !allowPartial {
		return res, &inventory.Error{Code: inventory.CodeShardUnavailable,
			Message: "a shard needed for the report did not answer in time; retry, or ask for ?partial=true",
			Details: map[string]any{"shards": res.MissingShards}}
	}
	res.Partial = true
	return res, nil
}

// partialParam reads ?partial=true|false (422 validation_failed for anything else).
func partialParam(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("partial"); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, inventory.Validation("partial", "partial must be true or false, got %q", v)
	}
}

type scatterTopologyKey struct{}

// mapPartitions returns the partitions the topology snapshot of this scatter assigns to st.
// Each shard reports exactly those: during a cutover the source still counts its (frozen)
// partitions and the target not yet, so nothing is missed or counted twice.
func mapPartitions(ctx context.Context, st *shard.Store) []int {
	rt, _ := ctx.Value(scatterTopologyKey{}).(*routeTable)
	if rt == nil {
		return nil
	}
	return rt.partitionsOf(st.Name())
}
