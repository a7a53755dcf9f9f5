package gateway

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/shard"
)

// reconcileBatch is how many candidate products one reconcile query returns.
const reconcileBatch = 500

// alertReconciler repairs alerts every alerts.reconcile_interval (see
// shard.Store.ReconcileAlerts): alerts normally open and resolve with the change itself; this
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
			return st.ReconcileAlerts(ctx, reconcileBatch)
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
