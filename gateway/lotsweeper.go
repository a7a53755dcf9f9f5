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
			return st.SweepExpiredLots(ctx, lotSweepBatch)
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
