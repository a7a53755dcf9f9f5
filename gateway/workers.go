package gateway

import (
	"context"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// runRecovery finishes what crashed coordinators left behind and expires held reservations past
// their TTL, on every shard, every sweep interval, until ctx is done. Only the header decides:
//   - pending untouched for the recovery grace → released (lines released, tombstones left);
//   - committing → commit the remaining lines → committed;
//   - releasing → release → released; expiring, or held past expiry → release → expired.
//
// Every gateway runs it; the steps are conditional and idempotent, so they may overlap.
func (s *Server) runRecovery(ctx context.Context) {
	runEvery(ctx, s.cfg.Reservation.SweepInterval, func() { s.RecoverOnce(ctx) })
}

// RecoverOnce runs one recovery pass over every shard and returns how many headers it finished.
func (s *Server) RecoverOnce(ctx context.Context) int {
	done := 0
	for _, st := range s.cluster.Current().ActiveStores() {
		headers, err := st.StuckHeaders(ctx, s.cfg.Reservation.RecoveryGrace, 200)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("recovery scan failed", "shard", st.Name(), "err", err)
			}
			continue
		}
		for _, h := range headers {
			if ctx.Err() != nil {
				return done
			}
			outcome, err := s.recoverHeader(ctx, h)
			if err != nil {
				s.log.Warn("recovery step failed", "reservation", h.ID, "status", h.Status, "err", err)
				continue
			}
			if outcome != "" {
				done++
				s.metrics.recovered.WithLabelValues(outcome).Inc()
			}
		}
	}
	return done
}

func (s *Server) recoverHeader(ctx context.Context, h shard.Header) (string, error) {
	switch h.Status {
	case inventory.StatusHeld:
		_, err := s.expire(ctx, h)
		return string(inventory.StatusExpired), err
	case inventory.StatusPending:
		cur, moved, err := s.transition(ctx, h, []inventory.Status{inventory.StatusPending}, inventory.StatusReleasing, false)
		if err != nil || !moved {
			return "", err
		}
		_, err = s.finish(ctx, cur, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
		return "rolled_back", err
	case inventory.StatusCommitting:
		_, err := s.finish(ctx, h, shard.ActionCommit, inventory.KindCommit, inventory.StatusCommitted)
		return string(inventory.StatusCommitted), err
	case inventory.StatusReleasing:
		_, err := s.finish(ctx, h, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
		return string(inventory.StatusReleased), err
	case inventory.StatusExpiring:
		_, err := s.finish(ctx, h, shard.ActionRelease, inventory.KindExpire, inventory.StatusExpired)
		return string(inventory.StatusExpired), err
	}
	return "", nil
}

// runHousekeeping purges expired idempotency keys and request markers every minute.
func (s *Server) runHousekeeping(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, st := range s.cluster.Current().ActiveStores() {
			if _, err := st.PurgeExpiredKeys(ctx, 1000); err != nil && ctx.Err() == nil {
				s.log.Warn("purging idempotency keys failed", "shard", st.Name(), "err", err)
			}
		}
	}
}

// runEvery calls fn every interval until ctx is done: the loop of every background worker.
func runEvery(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}
