package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
)

// The event relay. Every gateway runs a relay loop per active shard; the loops compete for the
// shard's relay lease (a MySQL named lock on a dedicated connection), so exactly one gateway
// relays a shard at a time. The holder:
//   - advances the shard's horizon (the seq below which every change is committed or will never
//     be; see shard.RelayLease.AdvanceHorizon) and publishes it to the meta store for pollers;
//   - runs one delivery loop per sink (NATS, each webhook) that reads events from the sink's
//     durable cursor up to the horizon, delivers them one by one in seq order and moves the
//     cursor; the first failure stops that sink on that shard until its retry, so no later event
//     (in particular none of the same SKU) overtakes it.
//
// Losing the lease (connection gone, lock taken) stops the loops; in-flight deliveries may then
// be repeated by the next holder (same event id): delivery is at least once.
//
// Guarantees, per sink: every change that publishes an event is delivered at least once, with
// the same id and body each time; for each SKU (each reservation for header events) the first
// delivery of every event comes in change-log order. A dead-lettered event is the exception: the
// SKU's later events go on without it (redeliver to send it again).
//
// Across a reshard: the mover copies a partition's change rows to the target in source order,
// keeping their origin (so the same event id), and all of them land below the first row written
// on the target after the cutover. The target's relay delivers a copied row unless the sink's
// cursor on the origin shard already passed it (then the origin delivered it earlier). So for
// any SKU, the target stream holds — in order — every event of the SKU the sink may not have yet,
// followed by the new ones: nothing is lost even if the source's relay lags or the source shard is
// removed, nothing new overtakes an old event, and the only cost is duplicates with the same id.

const (
	relayReadBatch      = 500
	relayHorizonBatch   = 5000
	relayLeaseCheck     = time.Second
	relayWebhookRefresh = time.Second
	relayCursorReload   = time.Second
	// relayDeliveryParallel bounds the deliveries of one sink and shard in flight at once
	// (each to a different order key).
	relayDeliveryParallel = 16
)

// eventService is the gateway's change-event machinery: relays, sinks and streams.
type eventService struct {
	s       *Server
	holder  string
	client  *webhookClient
	nats    *natsPublisher // nil when NATS is off
	metrics *eventMetrics

	mu   sync.Mutex
	held map[string]bool // shards whose relay this gateway runs

	done chan struct{} // closed when the workers stop (ends SSE streams)
	once sync.Once
}

func newEventService(s *Server) *eventService {
	host, _ := os.Hostname()
	e := &eventService{s: s, held: map[string]bool{}, done: make(chan struct{}),
		holder: fmt.Sprintf("%s/%d/%08x", host, os.Getpid(), rand.Uint32()),
		client: newWebhookClient(s.cfg.Events.WebhookTimeout), metrics: newEventMetrics(s.metrics.registry)}
	if s.cfg.Events.NATSURL != "" {
		e.nats = newNATSPublisher(s.cfg.Events, s.log)
	}
	return e
}

// shutdown ends SSE streams and closes the NATS connection.
func (e *eventService) shutdown() {
	e.once.Do(func() { close(e.done) })
	if e.nats != nil {
		e.nats.close()
	}
}

// RelaysHeld returns the shards whose event relay this gateway runs right now.
func (s *Server) RelaysHeld() []string {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	var out []string
	for name, ok := range s.events.held {
		if ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (e *eventService) setHeld(shardName string, held bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.held[shardName] = held
}

// leaseRetry is how often a gateway without the lease tries to take it.
func (e *eventService) leaseRetry() time.Duration {
	return min(max(5*e.s.cfg.Events.RelayPollInterval, 50*time.Millisecond), 2*time.Second)
}

// runRelays keeps a relay loop running for every active shard until ctx is done.
func (e *eventService) runRelays(ctx context.Context) {
	var wg sync.WaitGroup
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	t := time.NewTicker(e.leaseRetry())
	defer t.Stop()
	for {
		active := map[string]*shard.Store{}
		if rt := e.s.cluster.Current(); rt != nil {
			for _, st := range rt.ActiveStores() {
				active[st.Name()] = st
			}
		}
		for name, st := range active {
			if _, ok := running[name]; !ok {
				rctx, cancel := context.WithCancel(ctx)
				running[name] = cancel
				wg.Add(1)
				go func() {
					defer wg.Done()
					e.relayShard(rctx, st)
				}()
			}
		}
		for name, cancel := range running {
			if _, ok := active[name]; !ok {
				cancel()
				delete(running, name)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// relayShard takes the shard's relay lease whenever it is free and runs the relay while held.
func (e *eventService) relayShard(ctx context.Context, st *shard.Store) {
	for ctx.Err() == nil {
		lease, err := st.AcquireRelayLease(ctx)
		if err != nil && ctx.Err() == nil {
			e.s.log.Warn("relay lease", "shard", st.Name(), "err", err)
		}
		if lease != nil {
			e.setHeld(st.Name(), true)
			err := e.runRelay(ctx, st, lease)
			e.setHeld(st.Name(), false)
			lease.Release()
			if err != nil && ctx.Err() == nil {
				e.s.log.Warn("relay stopped", "shard", st.Name(), "err", err)
			}
		}
		sleepCtx(ctx, e.leaseRetry())
	}
}

// horizonHub shares the relay's horizon with the sink loops and wakes them when it moves.
type horizonHub struct {
	mu      sync.Mutex
	horizon uint64
	moved   chan struct{}
}

func (h *horizonHub) get() (uint64, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.horizon, h.moved
}

func (h *horizonHub) set(v uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if v > h.horizon {
		h.horizon = v
		close(h.moved)
		h.moved = make(chan struct{})
	}
}

// runRelay relays one shard while the lease is held: it advances the horizon every poll
// interval and keeps a delivery loop per sink. It returns when the lease is lost or ctx is done.
func (e *eventService) runRelay(ctx context.Context, st *shard.Store, lease *shard.RelayLease) error {
	cfg := e.s.cfg.Events
	horizons, err := e.s.meta.RelayHorizons(ctx)
	if err != nil {
		return err
	}
	hub := &horizonHub{horizon: horizons[st.Name()], moved: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sinks := map[string]context.CancelFunc{}
	startSink := func(sk eventSink) {
		sctx, scancel := context.WithCancel(ctx)
		sinks[sk.name()] = scancel
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runSink(sctx, st, sk, hub)
		}()
	}
	if e.nats != nil {
		startSink(natsSink{e.nats})
	}
	var lastCheck, lastRefresh time.Time
	t := time.NewTicker(cfg.RelayPollInterval)
	defer t.Stop()
	for {
		if time.Since(lastRefresh) >= relayWebhookRefresh {
			lastRefresh = time.Now()
			if hooks, err := e.s.meta.Webhooks(ctx); err == nil {
				want := map[string]bool{}
				for _, w := range hooks {
					sk := webhookSink{w, e.client}
					want[sk.name()] = true
					if _, ok := sinks[sk.name()]; !ok {
						startSink(sk)
					}
				}
				for name, scancel := range sinks {
					if name != shard.SinkNATS && !want[name] {
						scancel()
						delete(sinks, name)
					}
				}
			} else if ctx.Err() == nil {
				e.s.log.Warn("relay: listing webhooks failed", "shard", st.Name(), "err", err)
			}
		}
		if time.Since(lastCheck) >= relayLeaseCheck {
			lastCheck = time.Now()
			if err := lease.Check(ctx); err != nil {
				return err
			}
		}
		cur, _ := hub.get()
		next, err := lease.AdvanceHorizon(ctx, cur, relayHorizonBatch, cfg.GapGrace)
		switch {
		case errors.Is(err, shard.ErrRelayLeaseLost):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			e.s.log.Warn("relay: reading the change log failed", "shard", st.Name(), "err", err)
		case next > cur:
			hub.set(next)
			if err := e.s.meta.SetRelayHorizon(ctx, st.Name(), next, e.holder); err != nil && ctx.Err() == nil {
				e.s.log.Warn("relay: saving the horizon failed", "shard", st.Name(), "err", err)
			}
			if next-cur >= relayHorizonBatch/2 {
				continue // far behind: read on at once
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// eventSink is a destination of events with its own cursor per shard.
type eventSink interface {
	name() string
	accepts(eventType string) bool
	deliver(ctx context.Context, ev shard.Event, body []byte) error
	// maxAttempts bounds the attempts of one event before it is dead-lettered (0: never).
	maxAttempts(cfg configs.Events) int
	deadLetter(ctx context.Context, meta *shard.Meta, d shard.DeadLetter, epoch int64) error
}

// runSink delivers the shard's events to one sink in seq order from the sink's durable cursor.
func (e *eventService) runSink(ctx context.Context, st *shard.Store, sk eventSink, hub *horizonHub) {
	cfg := e.s.cfg.Events
	open := func() (shard.SinkCursor, bool) {
		for ctx.Err() == nil {
			c, err := e.s.meta.OpenSinkCursor(ctx, sk.name(), st.Name(), 0)
			if err == nil {
				return c, true
			}
			e.s.log.Warn("event cursor", "sink", sk.name(), "shard", st.Name(), "err", err)
			sleepCtx(ctx, time.Second)
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
		next, err := e.deliverBatch(ctx, st, sk, cur, horizon, delivered)
		if errors.Is(err, shard.ErrCursorMoved) {
			if cur, ok = open(); !ok {
				return
			}
			clear(delivered)
			reloaded = time.Now()
			continue
		}
		if err != nil {
			if ctx.Err() == nil {
				e.s.log.Warn("event delivery", "sink", sk.name(), "shard", st.Name(), "err", err)
				sleepCtx(ctx, cfg.RelayPollInterval)
			}
			continue
		}
		cur = next
	}
}

// deliverBatch delivers the events after cur up to horizon (one read batch) and saves the
// cursor. Events of different order keys (SKU, or reservation for header events) go out in
// parallel, the events of one key one after the other in seq order; a key stops at its first
// failure. The cursor then stops right before the lowest failed event: everything below it was
// delivered, and the stream waits for that event's retry. delivered remembers events above the
// cursor that already went out, so a retry does not repeat them.
func (e *eventService) deliverBatch(ctx context.Context, st *shard.Store, sk eventSink, cur shard.SinkCursor, horizon uint64,
	delivered map[uint64]bool) (shard.SinkCursor, error) {
	cfg := e.s.cfg.Events
	var origins map[string]uint64
	skipCopy := func(origin string, seq uint64) bool {
		// A copy made by a reshard is skipped when this sink already has the original: it was
		// delivered before anything that follows the copy here.
		if origin == st.Name() {
			return cur.Position >= seq
		}
		if origins == nil {
			var err error
			if origins, err = e.s.meta.SinkPositions(ctx, sk.name()); err != nil {
				origins = map[string]uint64{}
			}
		}
		return origins[origin] >= seq
	}
	evs, last, err := st.ReadEvents(ctx, cur.Position, horizon, relayReadBatch, skipCopy)
	if err != nil {
		return cur, err
	}
	var keys []string
	byKey := map[string][]shard.Event{}
	for _, ev := range evs {
		if !sk.accepts(ev.Type) || delivered[ev.Seq] {
			continue
		}
		k := eventOrderKey(ev)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], ev)
	}
	var (
		mu      sync.Mutex
		wg      sync.WaitGroup
		failed  *shard.Event
		failErr error
	)
	sem := make(chan struct{}, relayDeliveryParallel)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			for _, ev := range byKey[k] {
				t0 := time.Now()
				err := sk.deliver(ctx, ev, eventBody(ev))
				e.observe(sk, err, time.Since(t0))
				mu.Lock()
				if err == nil {
					delivered[ev.Seq] = true
				} else if failed == nil || ev.Seq < failed.Seq {
					failed, failErr = &ev, err
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	for seq := range delivered {
		if seq <= last && failed == nil || failed != nil && seq < failed.Seq {
			delete(delivered, seq) // below the new position
		}
	}
	if failed == nil {
		return cur, e.saveCursor(ctx, sk, st, &cur, last)
	}
	if ctx.Err() != nil {
		return cur, e.saveCursor(ctx, sk, st, &cur, failed.Seq-1)
	}
	attempts := 1
	if cur.Attempts > 0 && cur.Position == failed.Seq-1 {
		attempts = cur.Attempts + 1 // the same event failed again
	}
	if err := e.saveCursor(ctx, sk, st, &cur, failed.Seq-1); err != nil {
		return cur, err
	}
	if limit := sk.maxAttempts(cfg); limit > 0 && attempts >= limit {
		d := shard.DeadLetter{Shard: st.Name(), Seq: failed.Seq, EventID: failed.ID, EventType: failed.Type,
			Body: string(eventBody(*failed)), Attempts: attempts, LastError: failErr.Error()}
		if err := sk.deadLetter(ctx, e.s.meta, d, cur.Epoch); err != nil {
			return cur, err
		}
		e.s.log.Warn("event dead-lettered", "sink", sk.name(), "shard", st.Name(), "event", failed.ID, "attempts", attempts, "err", failErr)
		cur.Position, cur.Attempts = failed.Seq, 0
		return cur, nil
	}
	next := time.Now().Add(backoff(cfg.WebhookBackoff, cfg.WebhookMaxBackoff, attempts))
	if err := e.s.meta.RecordSinkFailure(ctx, sk.name(), st.Name(), cur.Epoch, cur.Position, attempts, next, failErr.Error()); err != nil {
		return cur, err
	}
	cur.Attempts, cur.NextAttemptAt, cur.LastError = attempts, next, failErr.Error()
	return cur, nil
}

// eventOrderKey is what per-key delivery order is kept for: the SKU, or the reservation of a
// header event (which has no SKU).
func eventOrderKey(ev shard.Event) string {
	if ev.SKU != "" {
		return "sku:" + ev.SKU
	}
	id, _ := ev.Data["reservation_id"].(string)
	return "reservation:" + id
}

func (e *eventService) saveCursor(ctx context.Context, sk eventSink, st *shard.Store, cur *shard.SinkCursor, pos uint64) error {
	if pos <= cur.Position && cur.Attempts == 0 {
		return nil
	}
	if err := e.s.meta.AdvanceSinkCursor(context.WithoutCancel(ctx), sk.name(), st.Name(), cur.Epoch, pos); err != nil {
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

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
