package events

import (
	"context"
	"fmt"
	"io"
	"time"
)

const (
	sseBatch     = 100
	sseHeartbeat = 15 * time.Second
)

// Stream writes the events after pos to w as Server-Sent Events, calling flush after each burst,
// until ctx is done, a write fails or the service stops. It starts with a retry hint; then each
// event is sent as
//
//	id: <cursor after this event>
//	event: <event type>
//	data: <the event JSON, as webhooks receive it>
//
// so that a client that reconnects with Last-Event-ID resumes right after the last event it
// received. Ordering is that of Page. Comment lines keep idle connections alive.
func (s *Service) Stream(ctx context.Context, w io.Writer, flush func(), pos map[string]uint64) {
	_, _ = fmt.Fprint(w, "retry: 1000\n\n")
	flush()
	idle := time.Now()
	for {
		rctx, cancel := context.WithTimeout(ctx, s.readTimeout)
		evs, next, err := s.page(rctx, pos, sseBatch)
		cancel()
		if err == nil {
			for _, ev := range evs {
				if _, err := fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", ev.cursor, ev.Type, eventBody(ev.Event)); err != nil {
					return
				}
			}
			if len(evs) > 0 {
				flush()
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
			flush()
			idle = time.Now()
		}
		t := time.NewTimer(s.cfg.RelayPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		case <-t.C:
		}
	}
}
