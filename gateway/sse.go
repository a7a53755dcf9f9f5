package gateway

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

const (
	sseBatch     = 100
	sseHeartbeat = 15 * time.Second
)

// streamEvents serves GET /v1/events/stream as Server-Sent Events. Each event is sent as
//
//	id: <cursor after this event>
//	event: <event type>
//	data: <the event JSON, as webhooks receive it>
//
// A client that reconnects with Last-Event-ID (or ?after=CURSOR) resumes right after the last
// event it received. Ordering is that of GET /v1/events. Comment lines keep idle connections
// alive. The stream ends when the client goes away or the gateway stops.
func (s *Server) streamEvents(w http.ResponseWriter, r *http.Request) {
	after := r.Header.Get("Last-Event-ID")
	if after == "" {
		after = r.URL.Query().Get("after")
	}
	pos, err := decodeEventCursor(after)
	if err != nil {
		status, body, _ := s.encodeError(inventory.Validation("after", "Last-Event-ID / after is not a valid event cursor"))
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
	_, _ = fmt.Fprint(w, "retry: 1000\n\n")
	flusher.Flush()
	ctx := r.Context()
	idle := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.HTTP.RequestTimeout)
		evs, next, err := s.readEventsPage(rctx, pos, sseBatch)
		cancel()
		if err == nil {
			for _, ev := range evs {
				if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.cursor, ev.Type, eventBody(ev.Event)); err != nil {
					return
				}
			}
			if len(evs) > 0 {
				flusher.Flush()
				idle = time.Now()
			}
			pos = next
			if len(evs) == sseBatch {
				continue
			}
		} else if ctx.Err() == nil {
			s.log.Warn("event stream read failed", "err", err)
		}
		if time.Since(idle) >= sseHeartbeat {
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			flusher.Flush()
			idle = time.Now()
		}
		t := time.NewTimer(s.cfg.Events.RelayPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.events.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
