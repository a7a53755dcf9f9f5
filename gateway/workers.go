package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/shard"
)

// passResult is what one shard's part of a shardPass returns; Plus sums the parts.
type passResult[R any] interface{ Plus(R) R }

// shardPass is a background worker that runs one pass over every active shard each interval,
// on every gateway (the lot expiry sweep, the alert reconcile): each shard's part is timed and
// counted under op (cluster.Timed), its result recorded (metrics, logs); a shard that fails is
// logged, counted in failures (by shard) and retried at the next pass. Passes are conditional
// and idempotent on the shards, so gateways may overlap.
type shardPass[R passResult[R]] struct {
	cluster  *cluster.Client
	interval time.Duration
	log      *slog.Logger
	op       string // the operation label, also the log's name for the pass
	pass     func(ctx context.Context, st *shard.Store) (R, error)
	record   func(st *shard.Store, r R)
	failures *prometheus.CounterVec // by shard
}

// run runs a pass every interval until ctx is done.
func (p *shardPass[R]) run(ctx context.Context) {
	worker.Every(ctx, p.interval, func() { p.once(ctx) })
}

// once runs one pass over every active shard and returns the sum of their results.
func (p *shardPass[R]) once(ctx context.Context) R {
	var total R
	for _, st := range p.cluster.Current().ActiveStores() {
		var r R
		err := p.cluster.Timed(p.op, st, func() (err error) {
			r, err = p.pass(ctx, st)
			return err
		})
		p.record(st, r)
		total = total.Plus(r)
		if err != nil && ctx.Err() == nil {
			p.failures.WithLabelValues(st.Name()).Inc()
			p.log.Warn("background pass failed", "pass", p.op, "shard", st.Name(), "err", err)
		}
	}
	return total
}
