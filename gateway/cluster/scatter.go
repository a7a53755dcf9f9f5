package cluster

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Coverage says which shards a scatter-gather answer is made of. Every report and listing
// response carries it: "partial" is false and "missing_shards" empty unless the client asked
// for ?partial=true and some shard did not answer in time.
type Coverage struct {
	Partial       bool     `json:"partial"`
	MissingShards []string `json:"missing_shards"`
}

// Answer is one shard's result in a scatter-gather.
type Answer[T any] struct {
	Shard string
	Value T
}

// Result is what a scatter-gather produced: the answers of the shards that responded (in shard
// name order) and the coverage, which is how partial results are reported.
type Result[T any] struct {
	Answers []Answer[T]
	Coverage
}

// Query is one shard's part of a scatter-gather. owned are the partitions the topology snapshot
// of this scatter assigns to st: a shard that reports exactly those keeps a report exact during
// a cutover (the source still counts its frozen partitions and the target not yet, so nothing is
// missed or counted twice).
type Query[T any] func(ctx context.Context, st *shard.Store, owned []int) (T, error)

// Scatter runs query on every active shard in parallel and gathers the answers. It is the one
// coordinator every report, listing and event page uses:
//   - each shard gets its own deadline, Options.ShardTimeout, derived from ctx, so a cancelled
//     client request cancels every shard query and a slow shard can hold the answer no longer
//     than its timeout (the gatherer stops waiting at the deadline even if a driver call does
//     not return);
//   - a shard that fails or times out is missing. Without allowPartial any missing shard fails
//     the whole request with shard_unavailable naming the missing shards (details.shards);
//     with allowPartial the answers of the other shards are returned and the Coverage names the
//     missing ones;
//   - latency per report and per shard and failures per shard are recorded under the report's
//     name.
func Scatter[T any](ctx context.Context, c *Client, report string, allowPartial bool, query Query[T]) (Result[T], error) {
	start := time.Now()
	defer func() { c.metrics.reportDuration.WithLabelValues(report).Observe(time.Since(start).Seconds()) }()
	snap := c.Current()
	if snap == nil {
		return Result[T]{}, errNoTopology
	}
	stores := snap.ActiveStores()
	ctx, cancel := context.WithCancel(ctx)
	// Stragglers past their deadline are cancelled when the gather returns; the channel is
	// buffered, so a straggler never blocks.
	defer cancel()
	results := make(chan outcome[T], len(stores))
	deadline := time.Now().Add(c.opts.ShardTimeout)
	for _, st := range stores {
		go func() {
			qctx, qcancel := context.WithDeadline(ctx, deadline)
			defer qcancel()
			t0 := time.Now()
			v, err := query(qctx, st, snap.PartitionsOf(st.Name()))
			if err == nil && qctx.Err() != nil {
				err = qctx.Err() // answered after the deadline: too late to count
			}
			c.metrics.reportShardDuration.WithLabelValues(report, st.Name()).Observe(time.Since(t0).Seconds())
			results <- outcome[T]{st.Name(), v, err}
		}()
	}
	res, failed, err := gather(ctx, stores, deadline, results)
	if err != nil {
		return res, err // the client went away or the request deadline passed
	}
	res.Coverage, err = c.coverage(failed, report, allowPartial)
	return res, err
}

// outcome is one shard's answer or failure.
type outcome[T any] struct {
	shard string
	value T
	err   error
}

// gather collects the outcomes until every shard answered or the shard deadline passed, and
// returns the answers in shard name order with the failures by shard.
func gather[T any](ctx context.Context, stores []*shard.Store, deadline time.Time, results <-chan outcome[T]) (Result[T], map[string]error, error) {
	var res Result[T]
	failed := map[string]error{}
	timer := time.NewTimer(time.Until(deadline) + 50*time.Millisecond)
	defer timer.Stop()
	pending := map[string]bool{}
	for _, st := range stores {
		pending[st.Name()] = true
	}
loop:
	for len(pending) > 0 {
		select {
		case o := <-results:
			delete(pending, o.shard)
			if o.err != nil {
				failed[o.shard] = o.err
				continue
			}
			res.Answers = append(res.Answers, Answer[T]{o.shard, o.value})
		case <-timer.C:
			// A driver call that ignores its context: give up on it.
			for name := range pending {
				failed[name] = context.DeadlineExceeded
			}
			break loop
		case <-ctx.Done():
			return res, failed, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return res, failed, err
	}
	slices.SortFunc(res.Answers, func(a, b Answer[T]) int { return cmp.Compare(a.Shard, b.Shard) })
	return res, failed, nil
}

// coverage records the failed shards and decides: every shard answered, a partial answer (when
// allowed), or shard_unavailable naming the missing shards.
func (c *Client) coverage(failed map[string]error, report string, allowPartial bool) (Coverage, error) {
	cov := Coverage{MissingShards: []string{}}
	for name, err := range failed {
		cov.MissingShards = append(cov.MissingShards, name)
		c.metrics.reportShardFailures.WithLabelValues(report, name).Inc()
		if !errors.Is(err, context.DeadlineExceeded) && inventory.ErrorCode(err) != inventory.CodeShardUnavailable {
			c.log.Warn("report query failed", "report", report, "shard", name, "err", err)
		}
	}
	slices.Sort(cov.MissingShards)
	if len(cov.MissingShards) == 0 {
		return cov, nil
	}
	if !allowPartial {
		details := map[string]any{"shards": cov.MissingShards}
		for _, err := range failed {
			if r := reasonOf(err); r != "" {
				details["reason"] = r // a busy shard's lock_contention
				break
			}
		}
		return cov, &inventory.Error{Code: inventory.CodeShardUnavailable,
			Message: "a shard needed for the report did not answer in time; retry, or ask for ?partial=true", Details: details}
	}
	cov.Partial = true
	return cov, nil
}
