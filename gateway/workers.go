package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/inventory"
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

// lotSweepBatch is how many products one expiry query returns.
const lotSweepBatch = 200

// lotSweeper removes expired lot quantity on every shard each lots.sweep_interval. Every gateway
// runs it; each product's sweep is one conditional transaction, so overlapping sweeps are
// harmless. once returns the totals: products examined, lots expired, conflicts newly recorded.
type lotSweeper = shardPass[shard.LotSweep]

func newLotSweeper(c *cluster.Client, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *lotSweeper {
	f := promauto.With(reg)
	expired := f.NewCounter(prometheus.CounterOpts{
		Name: "shardstock_lots_expired_total", Help: "Lots from which the expiry sweeper removed expired quantity.",
	})
	conflicts := f.NewCounter(prometheus.CounterOpts{
		Name: "shardstock_lot_expiry_conflicts_total", Help: "Lots whose expired quantity could not be removed because reserved stock needs it.",
	})
	return &lotSweeper{cluster: c, interval: interval, log: log, op: "sweep_lots",
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_lot_sweep_failures_total", Help: "Expiry sweeps of a shard that failed, by shard.",
		}, []string{"shard"}),
		pass: func(ctx context.Context, st *shard.Store) (shard.LotSweep, error) {
			return st.Upkeep().SweepExpiredLots(inventory.WorkerContext(ctx, inventory.ActorLotSweeper), lotSweepBatch)
		},
		record: func(st *shard.Store, r shard.LotSweep) {
			expired.Add(float64(r.Expired))
			conflicts.Add(float64(r.Conflicts))
			if r.Conflicts > 0 {
				log.Warn("expired lot stock is held by reservations", "shard", st.Name(), "lots", r.Conflicts)
			}
		},
	}
}

// reconcileBatch is how many candidate products one reconcile query returns.
const reconcileBatch = 500

// alertReconciler repairs alerts every alerts.reconcile_interval (see
// shard.Upkeep.ReconcileAlerts): alerts normally open and resolve with the change itself; this
// catches changes made around the API (bulk loads, SQL). Every gateway runs it: repairs
// re-evaluate under the product's lock, so overlapping passes fix each thing once. once
// returns what it fixed.
type alertReconciler = shardPass[shard.AlertRepairs]

func newAlertReconciler(c *cluster.Client, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *alertReconciler {
	f := promauto.With(reg)
	reconciled := f.NewCounterVec(prometheus.CounterOpts{
		Name: "shardstock_alerts_reconciled_total",
		Help: "Alerts repaired by the reconcile pass, by action (opened, resolved, relinked).",
	}, []string{"action"})
	return &alertReconciler{cluster: c, interval: interval, log: log, op: "reconcile_alerts",
		failures: f.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_alert_reconcile_failures_total", Help: "Alert reconcile passes over a shard that failed, by shard.",
		}, []string{"shard"}),
		pass: func(ctx context.Context, st *shard.Store) (shard.AlertRepairs, error) {
			return st.Upkeep().ReconcileAlerts(inventory.WorkerContext(ctx, inventory.ActorAlertReconcile), reconcileBatch)
		},
		record: func(st *shard.Store, r shard.AlertRepairs) {
			for action, n := range map[string]int{"opened": r.Opened, "resolved": r.Resolved, "relinked": r.Relinked} {
				if n > 0 {
					reconciled.WithLabelValues(action).Add(float64(n))
				}
			}
			if r.Total() > 0 {
				log.Info("alerts reconciled", "shard", st.Name(), "opened", r.Opened, "resolved", r.Resolved, "relinked", r.Relinked)
			}
		},
	}
}
