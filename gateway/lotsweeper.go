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

// lotSweeper removes expired lot quantity on every shard each lots.sweep_interval. Every gateway
// runs it; each product's sweep is one conditional transaction, so overlapping sweeps are
// harmless.
type lotSweeper struct {
	cluster  *cluster.Client
	interval time.Duration
	log      *slog.Logger
	metrics  *lotMetrics
}

func newLotSweeper(c *cluster.Client, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) *lotSweeper {
	return &lotSweeper{cluster: c, interval: interval, log: log, metrics: newLotMetrics(reg)}
}

// run sweeps every interval until ctx is done.
func (w *lotSweeper) run(ctx context.Context) {
	runEvery(ctx, w.interval, func() { w.once(ctx) })
}

// once runs one expiry sweep over every shard (partitions each owns) and returns the totals:
// products examined, lots expired, conflicts newly recorded. Its change rows name the lot
// sweeper as their actor.
func (w *lotSweeper) once(ctx context.Context) shard.LotSweep {
	ctx = inventory.WorkerContext(ctx, inventory.ActorLotSweeper)
	var total shard.LotSweep
	for _, st := range w.cluster.Current().ActiveStores() {
		var res shard.LotSweep
		err := w.cluster.Timed("sweep_lots", st, func() error {
			var err error
			res, err = st.SweepExpiredLots(ctx, 200)
			return err
		})
		total.Products += res.Products
		total.Expired += res.Expired
		total.Conflicts += res.Conflicts
		w.metrics.expired.Add(float64(res.Expired))
		w.metrics.conflicts.Add(float64(res.Conflicts))
		if res.Conflicts > 0 {
			w.log.Warn("expired lot stock is held by reservations", "shard", st.Name(), "lots", res.Conflicts)
		}
		if err != nil && ctx.Err() == nil {
			w.metrics.failures.WithLabelValues(st.Name()).Inc()
			w.log.Warn("lot expiry sweep failed", "shard", st.Name(), "err", err)
		}
	}
	return total
}

// lotMetrics are the expiry sweeper's series.
type lotMetrics struct {
	expired   prometheus.Counter
	conflicts prometheus.Counter
	failures  *prometheus.CounterVec
}

func newLotMetrics(reg prometheus.Registerer) *lotMetrics {
	m := &lotMetrics{
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_lots_expired_total", Help: "Lots from which the expiry sweeper removed expired quantity.",
		}),
		conflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "shardstock_lot_expiry_conflicts_total", Help: "Lots whose expired quantity could not be removed because reserved stock needs it.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shardstock_lot_sweep_failures_total", Help: "Expiry sweeps of a shard that failed, by shard.",
		}, []string{"shard"}),
	}
	reg.MustRegister(m.expired, m.conflicts, m.failures)
	return m
}
