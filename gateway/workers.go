package gateway

import (
	"context"
	"time"
)

// RecoverOnce runs one reservation recovery pass over every shard and returns how many
// headers it finished (see saga.Coordinator.Run).
func (s *Server) RecoverOnce(ctx context.Context) int { return s.saga.RecoverOnce(ctx) }

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

// RelaysHeld returns the shards whose event relay this gateway runs right now.
func (s *Server) RelaysHeld() []string { return s.events.Held() }
