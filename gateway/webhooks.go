package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/events"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// webhookJSON is a subscription as the API shows it (the secret is write-only).
type webhookJSON struct {
	ID         string            `json:"id"`
	URL        string            `json:"url"`
	EventTypes []string          `json:"event_types"`
	CreatedAt  time.Time         `json:"created_at"`
	Positions  map[string]uint64 `json:"positions,omitempty"`
	Cursor     string            `json:"cursor,omitempty"`
}

func toWebhookJSON(w shard.Webhook) webhookJSON {
	types := w.EventTypes
	if types == nil {
		types = []string{}
	}
	return webhookJSON{ID: w.ID, URL: w.URL, EventTypes: types, CreatedAt: w.CreatedAt}
}

type webhookRequest struct {
	URL        string   `json:"url"`
	EventTypes []string `json:"event_types"`
	Secret     string   `json:"secret"`
}

// createWebhook subscribes a URL. The URL must pass the egress policy (a public address, or one
// in webhooks.allow_cidrs). Deliveries start with the changes committed after the subscription
// (see startPositions).
func (api *eventAPI) createWebhook(r *request) (int, any, error) {
	var req webhookRequest
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	if err := api.egress.CheckURL(r.Context(), req.URL); err != nil {
		return 0, nil, err
	}
	if len(req.Secret) < 16 || len(req.Secret) > 255 {
		return 0, nil, inventory.Validation("secret", "secret must be 16-255 characters")
	}
	types := []string{}
	for _, t := range req.EventTypes {
		if !slices.Contains(shard.EventTypes, t) {
			return 0, nil, inventory.Errorf(inventory.CodeValidation, "unknown event type %q", t).
				WithDetails(map[string]any{"field": "event_types", "allowed": shard.EventTypes})
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	start, err := api.startPositions(r.Context())
	if err != nil {
		return 0, nil, err
	}
	id := make([]byte, 10)
	_, _ = rand.Read(id)
	w := shard.Webhook{ID: "wh_" + hex.EncodeToString(id), URL: req.URL, EventTypes: types, Secret: req.Secret,
		CreatedAt: time.Now().UTC().Truncate(time.Microsecond)}
	err = api.cluster.Meta(r.Context(), "create_webhook", func(ctx context.Context, m *shard.Meta) error { return m.Sinks().CreateWebhook(ctx, w, start) })
	if err != nil {
		return 0, nil, err
	}
	out := toWebhookJSON(w)
	out.Positions, out.Cursor = start, events.EncodeCursor(start)
	return http.StatusCreated, out, nil
}

// startPositions is where a new webhook's deliveries start on every shard of the topology that
// is not removed: the newest change of each shard that owns partitions (so nothing committed
// before the subscription is sent), and no lower than the shard's relay horizon. A shard that
// does not answer, or owns nothing yet, starts at its horizon (a shard that never relayed: at
// the beginning of its log, where only a reshard's copies, skipped when the origin's position
// is past them, and newer events can be).
func (api *eventAPI) startPositions(ctx context.Context) (map[string]uint64, error) {
	horizons, err := cluster.SinksValue(ctx, api.cluster, "relay_horizons", (*shard.Sinks).RelayHorizons)
	if err != nil {
		return nil, err
	}
	snap := api.cluster.Current()
	start := map[string]uint64{}
	for name, info := range snap.Shards() {
		if info.State != inventory.ShardRemoved {
			start[name] = horizons[name]
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, st := range snap.ActiveStores() {
		wg.Go(func() {
			head, err := st.Relay().MaxChangeSeq(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				api.log.Warn("webhook start: newest change unknown; starting at the relay horizon", "shard", st.Name(), "err", err)
				return
			}
			start[st.Name()] = max(start[st.Name()], head)
		})
	}
	wg.Wait()
	return start, nil
}

func (api *eventAPI) listWebhooks(r *request) (int, any, error) {
	hooks, err := cluster.SinksValue(r.Context(), api.cluster, "webhooks", (*shard.Sinks).Webhooks)
	if err != nil {
		return 0, nil, err
	}
	out := []webhookJSON{}
	for _, w := range hooks {
		out = append(out, toWebhookJSON(w))
	}
	return http.StatusOK, map[string]any{"webhooks": out}, nil
}

// getWebhook shows a subscription with its delivery position on every shard.
func (api *eventAPI) getWebhook(r *request) (int, any, error) {
	w, err := api.webhook(r)
	if err != nil {
		return 0, nil, err
	}
	pos, err := api.sinkPositions(r.Context(), shard.WebhookSink(w.ID))
	if err != nil {
		return 0, nil, err
	}
	out := toWebhookJSON(w)
	out.Positions, out.Cursor = pos, events.EncodeCursor(pos)
	return http.StatusOK, out, nil
}

func (api *eventAPI) deleteWebhook(r *request) (int, any, error) {
	id := r.pathVar("id")
	// The delete waits for the webhook's deliveries in flight (shard.Sinks.DeleteWebhook), which
	// may take longer than the meta timeout: MetaWaiting bounds the store's answer, not the wait.
	err := api.cluster.MetaWaiting(r.Context(), "delete_webhook", func(ctx context.Context, m *shard.Meta) error {
		return m.Sinks().DeleteWebhook(ctx, id)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"id": id, "deleted": true}, nil
}

type deadLetterJSON struct {
	shard.DeadLetter
	Event rawJSON `json:"event"`
	// RedeliverAfter is the cursor to pass to redeliver to send this event (and the ones after it
	// on its shard) again.
	RedeliverAfter string `json:"redeliver_after"`
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return bytes.TrimSpace(r), nil }

// listDeadLetters: GET /v1/webhooks/{id}/dead-letters?after=ID&limit=N.
func (api *eventAPI) listDeadLetters(r *request) (int, any, error) {
	w, err := api.webhook(r)
	if err != nil {
		return 0, nil, err
	}
	limit, err := limitParam(r)
	if err != nil {
		return 0, nil, err
	}
	var after int64
	if v := r.URL.Query().Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			return 0, nil, inventory.Validation("after", "after must be a dead letter id")
		}
	}
	var dls []shard.DeadLetter
	err = api.cluster.Meta(r.Context(), "dead_letters", func(ctx context.Context, m *shard.Meta) error {
		var err error
		dls, err = m.Sinks().DeadLetters(ctx, w.ID, after, limit)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	out := []deadLetterJSON{}
	for _, d := range dls {
		out = append(out, deadLetterJSON{DeadLetter: d, Event: rawJSON(d.Body),
			RedeliverAfter: events.EncodeCursor(map[string]uint64{d.Shard: d.Seq - 1})})
		after = d.ID
	}
	return http.StatusOK, map[string]any{"dead_letters": out, "next_after": after}, nil
}

// redeliverWebhook: POST /v1/webhooks/{id}/redeliver {"after": CURSOR} moves the webhook's
// cursor on every shard named in the cursor back (or forward) to that position; the events after
// it are delivered again, in order. An empty cursor means every shard from the beginning of its
// retained change log.
func (api *eventAPI) redeliverWebhook(r *request) (int, any, error) {
	var req struct {
		After *string `json:"after"`
	}
	if err := decodeStrict(r.body, &req); err != nil {
		return 0, nil, err
	}
	if req.After == nil {
		return 0, nil, inventory.Validation("after", "after is required (a cursor; \"\" for the beginning)")
	}
	w, err := api.webhook(r)
	if err != nil {
		return 0, nil, err
	}
	positions, err := events.DecodeCursor(*req.After)
	if err != nil {
		return 0, nil, inventory.Validation("after", "after is not a valid event cursor")
	}
	if *req.After == "" {
		for _, st := range api.cluster.Current().ActiveStores() {
			positions[st.Name()] = 0
		}
	}
	err = api.cluster.Meta(r.Context(), "reposition_sink", func(ctx context.Context, m *shard.Meta) error {
		return m.Sinks().RepositionSink(ctx, shard.WebhookSink(w.ID), positions)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusAccepted, map[string]any{"id": w.ID, "positions": positions}, nil
}

// webhook reads the webhook named in the path.
func (api *eventAPI) webhook(r *request) (shard.Webhook, error) {
	id := r.pathVar("id")
	return cluster.SinksValue(r.Context(), api.cluster, "webhook", func(sk *shard.Sinks, ctx context.Context) (shard.Webhook, error) {
		return sk.Webhook(ctx, id)
	})
}

// sinkPositions reads a sink's delivery position on every shard.
func (api *eventAPI) sinkPositions(ctx context.Context, sink string) (map[string]uint64, error) {
	return cluster.SinksValue(ctx, api.cluster, "sink_positions", func(sk *shard.Sinks, ctx context.Context) (map[string]uint64, error) {
		return sk.SinkPositions(ctx, sink)
	})
}
