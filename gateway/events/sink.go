package events

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// sink is a destination of events with its own cursor per shard.
type sink interface {
	name() string
	accepts(eventType string) bool
	deliver(ctx context.Context, ev shard.Event, body []byte) error
	// maxAttempts bounds the attempts of one event before it is dead-lettered (0: never).
	maxAttempts(cfg configs.Events) int
	deadLetter(ctx context.Context, s *Service, d shard.DeadLetter, epoch int64) error
	// hold is taken while a batch is sent and released after it (a webhook's deletion waits for
	// it); shard.ErrSinkGone when the sink was deleted.
	hold(ctx context.Context, s *Service) (release func(), err error)
}

// A delivery loop reaches the metadata store through the cluster client (meta timeout and
// breaker), so a store that is down or frozen fails its calls fast instead of stalling the
// loop; the loop then waits relayCursorReload and tries again, without a log line per attempt
// (the meta failure metrics count them). Two of its calls may wait on a webhook's deletion,
// which waits for the batches in flight: they run through waitingMeta.

// waitingMeta runs a metadata-store call that may wait for a webhook's deletion: the store is
// checked under the meta timeout and breaker, and the call may then wait as long as a deletion
// can (relayHoldBudget plus one delivery) without counting against the breaker.
func (s *Service) waitingMeta(ctx context.Context, op string, fn func(ctx context.Context, m *shard.Meta) error) error {
	ctx, cancel := context.WithTimeout(ctx, relayHoldBudget+s.cfg.WebhookTimeout)
	defer cancel()
	return s.cluster.MetaWaiting(ctx, op, fn)
}

// metaDown reports whether err is the metadata store failing (meta_unavailable).
func metaDown(err error) bool { return inventory.IsCode(err, inventory.CodeMetaUnavailable) }

// runSink delivers the shard's events to one sink in seq order from the sink's durable cursor.
func (s *Service) runSink(ctx context.Context, st *shard.Store, sk sink, hub *horizonHub) {
	open := func() (shard.SinkCursor, bool) {
		for ctx.Err() == nil {
			var c shard.SinkCursor
			err := s.waitingMeta(ctx, "open_sink_cursor", func(ctx context.Context, m *shard.Meta) error {
				var err error
				c, err = m.Sinks().OpenSinkCursor(ctx, sk.name(), st.Name(), 0)
				return err
			})
			if err == nil {
				return c, true
			}
			if errors.Is(err, shard.ErrSinkGone) {
				return shard.SinkCursor{}, false // deleted: this loop ends
			}
			if !metaDown(err) && ctx.Err() == nil {
				s.log.Warn("event cursor", "sink", sk.name(), "shard", st.Name(), "err", err)
			}
			sleepCtx(ctx, relayCursorReload)
		}
		return shard.SinkCursor{}, false
	}
	cur, ok := open()
	if !ok {
		return
	}
	reloaded := time.Now()
	delivered := map[uint64]bool{} // events above the cursor that went out already
	for ctx.Err() == nil {
		horizon, moved := hub.get()
		wait := time.Duration(0)
		switch {
		case cur.Attempts > 0 && time.Until(cur.NextAttemptAt) > 0:
			wait = time.Until(cur.NextAttemptAt)
		case horizon <= cur.Position:
			wait = relayCursorReload
		}
		if wait > 0 {
			timer := time.NewTimer(min(wait, relayCursorReload))
			select {
			case <-ctx.Done():
				timer.Stop()
				return
			case <-moved:
			case <-timer.C:
			}
			timer.Stop()
			if time.Since(reloaded) >= relayCursorReload {
				epoch := cur.Epoch
				if cur, ok = open(); !ok {
					return
				}
				if cur.Epoch != epoch {
					clear(delivered) // redelivery: send everything after the new position
				}
				reloaded = time.Now()
			}
			continue
		}
		next, err := s.deliverBatch(ctx, st, sk, cur, horizon, delivered)
		if errors.Is(err, shard.ErrSinkGone) {
			return
		}
		if errors.Is(err, shard.ErrCursorMoved) {
			if cur, ok = open(); !ok {
				return
			}
			clear(delivered)
			reloaded = time.Now()
			continue
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
			case metaDown(err):
				sleepCtx(ctx, relayCursorReload)
			default:
				s.log.Warn("event delivery", "sink", sk.name(), "shard", st.Name(), "err", err)
				sleepCtx(ctx, s.cfg.RelayPollInterval)
			}
			continue
		}
		cur = next
	}
}

// batch is one read of a sink's events after its cursor: the events it accepts and has not
// delivered yet, grouped by order key (keys in order of first appearance, events in seq order).
type batch struct {
	keys  []string
	byKey map[string][]shard.Event
	last  uint64 // the position after the read (rows that publish nothing included)
}

// deliverBatch delivers the events after cur up to horizon (one read batch) and saves the
// cursor. Events of different order keys (SKU, or reservation for header events) go out in
// parallel, the events of one key one after the other in seq order; a key stops at its first
// failure, or when the batch's time (relayHoldBudget) is up. The cursor then stops right before
// the lowest event that did not go out: everything below it was delivered, and the stream waits
// for that event's retry (after a failure) or goes on with it at once. delivered remembers
// events above the cursor that already went out, so a retry does not repeat them. The batch is
// sent under the sink's hold; ErrSinkGone when the sink was deleted.
func (s *Service) deliverBatch(ctx context.Context, st *shard.Store, sk sink, cur shard.SinkCursor, horizon uint64,
	delivered map[uint64]bool) (shard.SinkCursor, error) {
	b, err := s.readBatch(ctx, st, sk, cur, horizon, delivered)
	if err != nil {
		return cur, err
	}
	var out outcome
	if len(b.keys) > 0 {
		release, err := sk.hold(ctx, s)
		if err != nil {
			return cur, err
		}
		out = s.deliverKeys(ctx, sk, b, delivered)
		release()
	}
	stop := out.stop()
	for seq := range delivered {
		if stop == 0 && seq <= b.last || stop != 0 && seq < stop {
			delete(delivered, seq) // below the new position
		}
	}
	switch {
	case stop == 0:
		err = s.saveCursor(ctx, sk, st, &cur, b.last)
	case out.failed == nil || out.failed.Seq != stop || ctx.Err() != nil:
		err = s.saveCursor(ctx, sk, st, &cur, stop-1) // not a failure: the next batch starts there
	default:
		return s.recordFailure(ctx, st, sk, cur, *out.failed, out.failErr)
	}
	return cur, err
}

// outcome is what deliverKeys did with a batch.
type outcome struct {
	failed  *shard.Event // the failed event with the lowest seq, if any
	failErr error
	pending uint64 // the lowest seq not attempted because the batch's time was up; 0: none
}

// stop is the lowest seq that did not go out (0 when the whole batch did).
func (o outcome) stop() uint64 {
	stop := o.pending
	if o.failed != nil && (stop == 0 || o.failed.Seq < stop) {
		stop = o.failed.Seq
	}
	return stop
}

// readBatch reads the sink's next events on the shard and groups them by order key.
func (s *Service) readBatch(ctx context.Context, st *shard.Store, sk sink, cur shard.SinkCursor, horizon uint64,
	delivered map[uint64]bool) (batch, error) {
	var origins map[string]uint64
	skipCopy := func(origin string, seq uint64) bool {
		// A copy made by a reshard is skipped when this sink already has the original: it was
		// delivered before anything that follows the copy here.
		if origin == st.Name() {
			return cur.Position >= seq
		}
		if origins == nil {
			var err error
			origins, err = cluster.SinksValue(ctx, s.cluster, "sink_positions", func(sks *shard.Sinks, ctx context.Context) (map[string]uint64, error) {
				return sks.SinkPositions(ctx, sk.name())
			})
			if err != nil {
				origins = map[string]uint64{}
			}
		}
		return origins[origin] >= seq
	}
	evs, last, err := st.Relay().ReadEvents(ctx, cur.Position, horizon, relayReadBatch, skipCopy)
	if err != nil {
		return batch{}, err
	}
	b := batch{byKey: map[string][]shard.Event{}, last: last}
	for _, ev := range evs {
		if !sk.accepts(ev.Type) || delivered[ev.Seq] {
			continue
		}
		k := orderKey(ev)
		if _, ok := b.byKey[k]; !ok {
			b.keys = append(b.keys, k)
		}
		b.byKey[k] = append(b.byKey[k], ev)
	}
	return b, nil
}

// deliverKeys delivers the batch, keys in parallel (at most relayDeliveryParallel at once) and
// each key's events in order until its first failure; no send starts after relayHoldBudget. It
// marks what went out in delivered.
func (s *Service) deliverKeys(ctx context.Context, sk sink, b batch, delivered map[uint64]bool) outcome {
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		out outcome
	)
	deadline := time.Now().Add(relayHoldBudget)
	sem := make(chan struct{}, relayDeliveryParallel)
	for _, k := range b.keys {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			for _, ev := range b.byKey[k] {
				if time.Now().After(deadline) {
					mu.Lock()
					if out.pending == 0 || ev.Seq < out.pending {
						out.pending = ev.Seq
					}
					mu.Unlock()
					return
				}
				t0 := time.Now()
				err := sk.deliver(ctx, ev, eventBody(ev))
				s.metrics.observe(sk, err, time.Since(t0))
				mu.Lock()
				if err == nil {
					delivered[ev.Seq] = true
				} else if out.failed == nil || ev.Seq < out.failed.Seq {
					out.failed, out.failErr = &ev, err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return out
}

// recordFailure moves the cursor right before the failed event and either dead-letters it (its
// attempts are exhausted; the cursor then passes it) or records the failure and the time of its
// next attempt.
func (s *Service) recordFailure(ctx context.Context, st *shard.Store, sk sink, cur shard.SinkCursor,
	failed shard.Event, failErr error) (shard.SinkCursor, error) {
	attempts := 1
	if cur.Attempts > 0 && cur.Position == failed.Seq-1 {
		attempts = cur.Attempts + 1 // the same event failed again
	}
	if err := s.saveCursor(ctx, sk, st, &cur, failed.Seq-1); err != nil {
		return cur, err
	}
	// What is stored (and shown by the API) is a fixed phrase without addresses or ports; the
	// full error is logged here.
	lastErr := egress.SanitizeError(failErr)
	if limit := sk.maxAttempts(s.cfg); limit > 0 && attempts >= limit {
		d := shard.DeadLetter{Shard: st.Name(), Seq: failed.Seq, EventID: failed.ID, EventType: failed.Type,
			Body: string(eventBody(failed)), Attempts: attempts, LastError: lastErr}
		if err := sk.deadLetter(ctx, s, d, cur.Epoch); err != nil {
			return cur, err
		}
		s.log.Warn("event dead-lettered", "sink", sk.name(), "shard", st.Name(), "event", failed.ID, "attempts", attempts, "err", failErr)
		cur.Position, cur.Attempts = failed.Seq, 0
		return cur, nil
	}
	s.log.Info("event delivery failed; will retry", "sink", sk.name(), "shard", st.Name(), "event", failed.ID,
		"attempts", attempts, "err", failErr)
	next := time.Now().Add(backoff(s.cfg.WebhookBackoff, s.cfg.WebhookMaxBackoff, attempts))
	err := s.cluster.Meta(ctx, "record_sink_failure", func(ctx context.Context, m *shard.Meta) error {
		return m.Sinks().RecordSinkFailure(ctx, sk.name(), st.Name(), cur.Epoch, cur.Position, attempts, next, lastErr)
	})
	if err != nil {
		return cur, err
	}
	cur.Attempts, cur.NextAttemptAt, cur.LastError = attempts, next, lastErr
	return cur, nil
}

// orderKey is what per-key delivery order is kept for: the SKU, or the reservation of a header
// event (which has no SKU).
func orderKey(ev shard.Event) string {
	if ev.SKU != "" {
		return "sku:" + ev.SKU
	}
	id, _ := ev.Data["reservation_id"].(string)
	return "reservation:" + id
}

// saveCursor moves the sink's durable cursor on the shard to pos (never back) and clears any
// recorded failure.
func (s *Service) saveCursor(ctx context.Context, sk sink, st *shard.Store, cur *shard.SinkCursor, pos uint64) error {
	if pos <= cur.Position && cur.Attempts == 0 {
		return nil
	}
	err := s.cluster.Meta(context.WithoutCancel(ctx), "advance_sink_cursor", func(ctx context.Context, m *shard.Meta) error {
		return m.Sinks().AdvanceSinkCursor(ctx, sk.name(), st.Name(), cur.Epoch, pos)
	})
	if err != nil {
		return err
	}
	cur.Position, cur.Attempts, cur.NextAttemptAt, cur.LastError = max(cur.Position, pos), 0, time.Time{}, ""
	return nil
}

// backoff is the delay before attempt n+1 after n failures: exponential from base, capped, with
// jitter over its upper half so that retries of many receivers spread out.
func backoff(base, limit time.Duration, n int) time.Duration {
	d := base
	for i := 1; i < n && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return d/2 + rand.N(d/2+1)
}
