package saga

import (
	"context"

	"github.com/shardstock/shardstock/gateway/worker"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Run is the recovery/TTL worker: every Options.SweepInterval it finishes what crashed
// coordinators left behind and expires held reservations past their TTL, on every shard, until
// ctx is done. Only the header decides:
//   - pending untouched for the recovery grace → released (lines released, tombstones left);
//   - committing → commit the remaining lines → committed;
//   - releasing → release → released; expiring, or held past expiry → release → expired.
//
// Every gateway runs it; the steps are conditional and idempotent, so they may overlap.
func (c *Coordinator) Run(ctx context.Context) {
	worker.Every(ctx, c.opts.SweepInterval, func() { c.RecoverOnce(ctx) })
}

// RecoverOnce runs one recovery pass over every shard and returns how many headers it finished.
func (c *Coordinator) RecoverOnce(ctx context.Context) int {
	done := 0
	for _, st := range c.cluster.Current().ActiveStores() {
		headers, err := st.Upkeep().StuckHeaders(ctx, c.opts.RecoveryGrace, 200)
		if err != nil {
			if ctx.Err() == nil {
				c.log.Warn("recovery scan failed", "shard", st.Name(), "err", err)
			}
			continue
		}
		for _, h := range headers {
			if ctx.Err() != nil {
				return done
			}
			outcome, err := c.recoverHeader(ctx, h)
			if err != nil {
				c.log.Warn("recovery step failed", "reservation", h.ID, "status", h.Status, "err", err)
				continue
			}
			if outcome != "" {
				done++
				c.metrics.recovered.WithLabelValues(outcome).Inc()
			}
		}
	}
	return done
}

// recoverHeader finishes one stuck header and returns the outcome label ("" when nothing was
// left to do). The recovery worker is the actor of its change rows; the expiry worker of an
// expiry's.
func (c *Coordinator) recoverHeader(ctx context.Context, h shard.Header) (string, error) {
	ctx = inventory.WorkerContext(ctx, inventory.ActorRecovery)
	switch h.Status {
	case inventory.StatusHeld:
		_, err := c.expire(ctx, h)
		return string(inventory.StatusExpired), err
	case inventory.StatusPending:
		cur, moved, err := c.transition(ctx, h, []inventory.Status{inventory.StatusPending}, inventory.StatusReleasing, false)
		if err != nil || !moved {
			return "", err
		}
		_, err = c.finish(ctx, cur, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
		return "rolled_back", err
	case inventory.StatusCommitting:
		_, err := c.finish(ctx, h, shard.ActionCommit, inventory.KindCommit, inventory.StatusCommitted)
		return string(inventory.StatusCommitted), err
	case inventory.StatusReleasing:
		_, err := c.finish(ctx, h, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
		return string(inventory.StatusReleased), err
	case inventory.StatusExpiring:
		_, err := c.finish(inventory.WorkerContext(ctx, inventory.ActorExpiry), h, shard.ActionRelease, inventory.KindExpire, inventory.StatusExpired)
		return string(inventory.StatusExpired), err
	}
	return "", nil
}
