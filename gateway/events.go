package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Event cursors. A cursor is a position in every shard's change log: base64url of the JSON
// object {"<shard>": <seq>, ...}; the events after it are those with a greater seq on each shard.
// The empty cursor is the beginning of every log. The same cursor serves GET /v1/events (after,
// next_cursor), the SSE stream (event ids, Last-Event-ID) and webhook redelivery.

func encodeEventCursor(pos map[string]uint64) string {
	b, _ := json.Marshal(pos) // map keys are sorted: one cursor per position
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeEventCursor(c string) (map[string]uint64, error) {
	pos := map[string]uint64{}
	if c == "" {
		return pos, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &pos); err != nil {
		return nil, err
	}
	if pos == nil { // the JSON literal null
		pos = map[string]uint64{}
	}
	return pos, nil
}

// eventBody is the JSON every sink receives for an event.
func eventBody(ev shard.Event) []byte {
	return bytes.TrimSuffix(encodeJSON(ev), []byte("\n"))
}

// pagedEvent is an event read for a client, with the cursor right after it.
type pagedEvent struct {
	shard.Event
	cursor string
}

// readEventsPage returns up to limit events after the positions, merged over every active shard,
// and the positions after them. Each shard is read in seq order up to its relay horizon (never
// past a change that may still commit), so per-SKU order is exact; shards are interleaved by
// occurred_at, which is a best-effort global order. A row that a reshard copied is left out when
// the positions already cover its original.
func (s *Server) readEventsPage(ctx context.Context, after map[string]uint64, limit int) ([]pagedEvent, map[string]uint64, error) {
	horizons, err := s.meta.RelayHorizons(ctx)
	if err != nil {
		return nil, nil, err
	}
	type shardPage struct {
		events []shard.Event
		end    uint64 // position after the events (rows that publish nothing included)
	}
	res, err := cluster.Scatter(ctx, s.cluster, "events", false, func(ctx context.Context, st *shard.Store, _ []int) (shardPage, error) {
		pos, horizon := after[st.Name()], horizons[st.Name()]
		// A copied row is left out when the client has read past its original.
		skip := func(origin string, seq uint64) bool { return after[origin] >= seq }
		var page shardPage
		for scanned := 0; pos < horizon && len(page.events) < limit && scanned < 20*limit; scanned += limit {
			evs, last, err := st.ReadEvents(ctx, pos, horizon, limit, skip)
			if err != nil {
				return page, err
			}
			page.events = append(page.events, evs...)
			pos = last
		}
		page.end = pos
		if len(page.events) > limit {
			page.events = page.events[:limit]
			page.end = page.events[limit-1].Seq
		}
		return page, nil
	})
	if err != nil {
		return nil, nil, err
	}
	next := maps.Clone(after)
	heads := make([]int, len(res.Answers))
	var out []pagedEvent
	for len(out) < limit {
		best := -1
		for i, a := range res.Answers {
			if heads[i] >= len(a.Value.events) {
				continue
			}
			if best < 0 || cmp.Or(
				a.Value.events[heads[i]].OccurredAt.Compare(res.Answers[best].Value.events[heads[best]].OccurredAt),
				cmp.Compare(a.Shard, res.Answers[best].Shard)) < 0 {
				best = i
			}
		}
		if best < 0 {
			break
		}
		ev := res.Answers[best].Value.events[heads[best]]
		heads[best]++
		next[ev.Shard] = ev.Seq
		out = append(out, pagedEvent{Event: ev, cursor: encodeEventCursor(next)})
	}
	for i, a := range res.Answers {
		if heads[i] == len(a.Value.events) {
			next[a.Shard] = max(next[a.Shard], a.Value.end)
		}
	}
	return out, next, nil
}

// listEvents: GET /v1/events?after=CURSOR&limit=N.
func (s *Server) listEvents(r *http.Request, _ []byte) (int, any, error) {
	if err := queryParams(r, "after", "limit"); err != nil {
		return 0, nil, err
	}
	limit, err := limitParam(r)
	if err != nil {
		return 0, nil, err
	}
	after, err := decodeEventCursor(r.URL.Query().Get("after"))
	if err != nil {
		return 0, nil, inventory.Validation("after", "after is not a valid event cursor")
	}
	evs, next, err := s.readEventsPage(r.Context(), after, limit)
	if err != nil {
		return 0, nil, err
	}
	list := make([]shard.Event, len(evs))
	for i, e := range evs {
		list[i] = e.Event
	}
	return http.StatusOK, map[string]any{"events": list, "next_cursor": encodeEventCursor(next)}, nil
}

// eventMetrics count deliveries per sink kind (webhook, nats) and outcome.
type eventMetrics struct {
	deliveries *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

func newEventMetrics(reg *prometheus.Registry) *eventMetrics {
	m := &eventMetrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "shardstock_event_deliveries_total",
			Help: "Event deliveries by sink kind and outcome."}, []string{"sink", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "shardstock_event_delivery_seconds",
			Help: "Duration of one event delivery attempt.", Buckets: prometheus.DefBuckets}, []string{"sink"}),
	}
	reg.MustRegister(m.deliveries, m.duration)
	return m
}

func (e *eventService) observe(sk eventSink, err error, d time.Duration) {
	kind, _, _ := strings.Cut(sk.name(), ":")
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	e.metrics.deliveries.WithLabelValues(kind, outcome).Inc()
	e.metrics.duration.WithLabelValues(kind).Observe(d.Seconds())
}

// natsPublisher publishes events to NATS JetStream on <prefix>.<event type>, with the event id
// as Nats-Msg-Id so that the server drops a repeated publication (within the stream's duplicate
// window). It connects lazily and creates the stream when it is missing.
type natsPublisher struct {
	cfg configs.Events
	log *slog.Logger

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

func newNATSPublisher(cfg configs.Events, log *slog.Logger) *natsPublisher {
	return &natsPublisher{cfg: cfg, log: log}
}

func (p *natsPublisher) jetStream(ctx context.Context) (jetstream.JetStream, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.js != nil && !p.nc.IsClosed() {
		return p.js, nil
	}
	nc, err := nats.Connect(p.cfg.NATSURL, nats.Name("shardstock-gateway"), nats.Timeout(2*time.Second), nats.MaxReconnects(-1))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	if _, err := js.Stream(ctx, p.cfg.NATSStream); errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: p.cfg.NATSStream,
			Subjects: []string{p.cfg.NATSSubjectPrefix + ".>"}, Storage: jetstream.FileStorage, Duplicates: 2 * time.Minute})
		if err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			nc.Close()
			return nil, err
		}
	} else if err != nil {
		nc.Close()
		return nil, err
	}
	p.nc, p.js = nc, js
	return js, nil
}

func (p *natsPublisher) publish(ctx context.Context, ev shard.Event, body []byte) error {
	js, err := p.jetStream(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = js.PublishMsg(ctx, &nats.Msg{Subject: p.cfg.NATSSubjectPrefix + "." + ev.Type, Data: body}, jetstream.WithMsgID(ev.ID))
	return err
}

func (p *natsPublisher) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nc != nil {
		p.nc.Close()
		p.nc, p.js = nil, nil
	}
}

// natsSink is the NATS publisher as a relay sink: every event type, never dead-lettered.
type natsSink struct{ p *natsPublisher }

func (n natsSink) name() string                   { return shard.SinkNATS }
func (n natsSink) accepts(string) bool            { return true }
func (n natsSink) maxAttempts(configs.Events) int { return 0 }
func (n natsSink) deliver(ctx context.Context, ev shard.Event, body []byte) error {
	return n.p.publish(ctx, ev, body)
}
func (n natsSink) deadLetter(context.Context, *shard.Meta, shard.DeadLetter, int64) error { return nil }
