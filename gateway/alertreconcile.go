package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// reconcileBatch is how many candidate products one reconcile query returns.
const reconcileBatch = 500

// alertReconciler repairs alerts every alerts.reconcile_interval: alerts normally open and
// resolve with the change itself; this catches changes made around the API (bulk loads, SQL).
// Every gateway runs it: repairs re-evaluate under the product's lock, so overlapping passes
// fix each thing once.
type alertReconciler struct {
	cluster  *cluster.Client
	interval time.Duration
	log      *slog.Logger
	metrics  *alertMetrics
}

func newAlertReconciler(c *cluster.Client, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *alertReconciler {
	return &alertReconciler{cluster: c, interval: interval, log: log, metrics: newAlertMetrics(reg)}
}

// run reconciles every interval until ctx is done.
func (w *alertReconciler) run(ctx context.Context) {
	runEvery(ctx, w.interval, func() { w.once(ctx) })
}

// once runs one alert reconcile pass over every active shard (see shard.Store.ReconcileAlerts)
// and returns what it fixed. A shard that fails is logged and skipped; the next pass retries it.
// Its change rows name the alert reconcile as their actor.
func (w *alertReconciler) once(ctx context.Context) shard.AlertRepairs {
	ctx = inventory.WorkerContext(ctx, inventory.ActorAlertReconcile)
	var total shard.AlertRepairs
	for _, st := range w.cluster.Current().ActiveStores() {
		r, err := st.ReconcileAlerts(ctx, reconcileBatch)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("alert reconcile failed", "shard", st.Name(), "err", err)
		}
		total.Opened += r.Opened
		total.Resolved += r.Resolved
		total.Relinked += r.Relinked
	}
	for action, n := range map[string]int{"opened": total.Opened, "resolved": total.Resolved, "relinked": total.Relinked} {
		if n > 0 {
			w.metrics.reconciled.WithLabelValues(action).Add(float64(n))
		}
	}
	if total.Total() > 0 {
		w.log.Info("alerts reconciled", "opened", total.Opened, "resolved", total.Resolved, "relinked", total.Relinked)
	}
	return total
}

// alertMetrics counts what the reconcile pass fixed, by action (opened, resolved, relinked).
type alertMetrics struct {
	reconciled *prometheus.CounterVec
}

func newAlertMetrics(reg prometheus.Registerer) *alertMetrics {
	m := &alertMetrics{reconciled: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "shardstock_alerts_reconciled_total",
		Help: "Alerts repaired by the reconcile pass, by action (opened, resolved, relinked).",
	}, []string{"action"})}
	reg.MustRegister(m.reconciled)
	return m
}
