package events

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
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
	// relayHoldBudget bounds the time in which a batch starts sends: a webhook's deletion waits
	// for the batch in flight, at most this plus one delivery (events.webhook_timeout).
	relayHoldBudget = time.Second
)

// runRelays keeps a relay loop running for every active shard until ctx is done.
func (s *Service) runRelays(ctx context.Context) {
	var wg sync.WaitGroup
	running := map[string]context.CancelFunc{}
	defer func() {
		for _, cancel := range running {
			cancel()
		}
		wg.Wait()
	}()
	t := time.NewTicker(s.leaseRetry())
	defer t.Stop()
	for {
		active := map[string]*shard.Store{}
		if snap := s.cluster.Current(); snap != nil {
			for _, st := range snap.ActiveStores() {
				active[st.Name()] = st
			}
		}
		for name, st := range active {
			if _, ok := running[name]; !ok {
				rctx, cancel := context.WithCancel(ctx)
				running[name] = cancel
				wg.Go(func() { s.relayShard(rctx, st) })
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
func (s *Service) relayShard(ctx context.Context, st *shard.Store) {
	for ctx.Err() == nil {
		lease, err := st.Relay().AcquireRelayLease(ctx)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("relay lease", "shard", st.Name(), "err", err)
		}
		if lease != nil {
			s.setHeld(st.Name(), true)
			err := s.runRelay(ctx, st, lease)
			s.setHeld(st.Name(), false)
			lease.Release()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("relay stopped", "shard", st.Name(), "err", err)
			}
		}
		sleepCtx(ctx, s.leaseRetry())
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
func (s *Service) runRelay(ctx context.Context, st *shard.Store, lease *shard.RelayLease) error {
	horizons, err := cluster.SinksValue(ctx, s.cluster, "relay_horizons", (*shard.Sinks).RelayHorizons)
	if err != nil {
		return err
	}
	hub := &horizonHub{horizon: horizons[st.Name()], moved: make(chan struct{})}
	ctx, cancel := context.WithCancel(ctx)
	loops := &sinkLoops{ctx: ctx, run: func(ctx context.Context, sk sink) { s.runSink(ctx, st, sk, hub) },
		cancel: map[string]context.CancelFunc{}}
	defer loops.wg.Wait()
	defer cancel()
	if s.nats != nil {
		loops.start(natsSink{s.nats})
	}
	var lastCheck, lastRefresh time.Time
	t := time.NewTicker(s.cfg.RelayPollInterval)
	defer t.Stop()
	for {
		if time.Since(lastRefresh) >= relayWebhookRefresh {
			lastRefresh = time.Now()
			s.syncWebhooks(ctx, st, loops)
		}
		if time.Since(lastCheck) >= relayLeaseCheck {
			lastCheck = time.Now()
			if err := lease.Check(ctx); err != nil {
				return err
			}
		}
		farBehind, err := s.advanceHorizon(ctx, st, lease, hub)
		if err != nil {
			return err
		}
		if farBehind {
			continue // read on at once
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// advanceHorizon moves the shard's horizon as far as the change log allows, publishes it to the
// sink loops and the meta store, and reports whether the relay is far behind (a full batch
// moved). Only a lost lease is an error; other failures are logged and retried next poll.
func (s *Service) advanceHorizon(ctx context.Context, st *shard.Store, lease *shard.RelayLease, hub *horizonHub) (bool, error) {
	cur, _ := hub.get()
	next, err := lease.AdvanceHorizon(ctx, cur, relayHorizonBatch, s.cfg.GapGrace)
	switch {
	case errors.Is(err, shard.ErrRelayLeaseLost):
		return false, err
	case ctx.Err() != nil:
		return false, nil
	case err != nil:
		s.log.Warn("relay: reading the change log failed", "shard", st.Name(), "err", err)
	case next > cur:
		hub.set(next)
		err := s.cluster.Meta(ctx, "set_relay_horizon", func(ctx context.Context, m *shard.Meta) error {
			return m.Sinks().SetRelayHorizon(ctx, st.Name(), next, s.holder)
		})
		if err != nil && ctx.Err() == nil {
			s.log.Warn("relay: saving the horizon failed", "shard", st.Name(), "err", err)
		}
		return next-cur >= relayHorizonBatch/2, nil
	}
	return false, nil
}

// syncWebhooks starts a delivery loop for every subscribed webhook that has none and stops the
// loops of deleted ones.
func (s *Service) syncWebhooks(ctx context.Context, st *shard.Store, loops *sinkLoops) {
	hooks, err := cluster.SinksValue(ctx, s.cluster, "webhooks", (*shard.Sinks).Webhooks)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("relay: listing webhooks failed", "shard", st.Name(), "err", err)
		}
		return
	}
	want := map[string]bool{}
	for _, w := range hooks {
		sk := webhookSink{w, s.client}
		want[sk.name()] = true
		if _, ok := loops.cancel[sk.name()]; !ok {
			loops.start(sk)
		}
	}
	for name := range loops.cancel {
		if name != shard.SinkNATS && !want[name] {
			loops.stop(name)
		}
	}
}

// sinkLoops are the delivery loops of one shard's relay, one per sink, each under its own
// context derived from the relay's.
type sinkLoops struct {
	ctx    context.Context
	run    func(ctx context.Context, sk sink)
	cancel map[string]context.CancelFunc
	wg     sync.WaitGroup
}

func (l *sinkLoops) start(sk sink) {
	ctx, cancel := context.WithCancel(l.ctx)
	l.cancel[sk.name()] = cancel
	l.wg.Go(func() { l.run(ctx, sk) })
}

func (l *sinkLoops) stop(name string) {
	l.cancel[name]()
	delete(l.cancel, name)
}
