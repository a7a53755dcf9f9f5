package gateway

import (
	"log/slog"
	"net/http"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/gateway/egress"
	"github.com/shardstock/shardstock/gateway/events"
	"github.com/shardstock/shardstock/inventory"
)

// eventAPI serves change events to clients (the polling page, the Server-Sent Events stream)
// and the webhook subscriptions. The relay, its sinks and the page reads are the events
// package's.
type eventAPI struct {
	events  *events.Service
	cluster *cluster.Client // the metadata store is reached through it (timeout, breaker)
	egress  *egress.Guard   // checks webhook URLs
	log     *slog.Logger
}

// listEvents: GET /v1/events?after=CURSOR&limit=N.
func (api *eventAPI) listEvents(r *request) (int, any, error) {
	if err := queryParams(r, "after", "limit"); err != nil {
		return 0, nil, err
	}
	limit, err := limitParam(r)
	if err != nil {
		return 0, nil, err
	}
	after, err := events.DecodeCursor(r.URL.Query().Get("after"))
	if err != nil {
		return 0, nil, inventory.Validation("after", "after is not a valid event cursor")
	}
	list, next, err := api.events.Page(r.Context(), after, limit)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"events": list, "next_cursor": events.EncodeCursor(next)}, nil
}

// streamEvents serves GET /v1/events/stream as Server-Sent Events (see events.Service.Stream).
// A client that reconnects with Last-Event-ID (or ?after=CURSOR) resumes right after the last
// event it received. The stream ends when the client goes away or the gateway stops.
func (api *eventAPI) streamEvents(w http.ResponseWriter, r *http.Request) {
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	pos, err := events.DecodeCursor(after)
	if err != nil {
		status, body, _ := errorAnswer(api.log, inventory.Validation("after", "Last-Event-ID / after is not a valid event cursor"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	api.events.Stream(r.Context(), w, flusher.Flush, pos)
}
