package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/shard"
)

// Event cursors. A cursor is a position in every shard's change log: base64url of the JSON
// object {"<shard>": <seq>, ...}; the events after it are those with a greater seq on each shard.
// The empty cursor is the beginning of every log. The same cursor serves GET /v1/events (after,
// next_cursor), the SSE stream (event ids, Last-Event-ID) and webhook redelivery.

// EncodeCursor returns the cursor of the positions.
func EncodeCursor(pos map[string]uint64) string {
	b, _ := json.Marshal(pos) // map keys are sorted: one cursor per position
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor returns the positions of a cursor (an empty, writable map for ""). Any text
// decodes to positions or an error, never a nil map.
func DecodeCursor(c string) (map[string]uint64, error) {
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

// eventBody is the JSON every sink and stream receives for an event.
func eventBody(ev shard.Event) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ev); err != nil {
		return []byte(`{"error":{"code":"internal","message":"cannot encode response","details":{}}}`)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// pagedEvent is an event read for a client, with the cursor right after it.
type pagedEvent struct {
	shard.Event
	cursor string
}

// Page returns up to limit events after the positions, merged over every active shard, and the
// positions after them (see page).
func (s *Service) Page(ctx context.Context, after map[string]uint64, limit int) ([]shard.Event, map[string]uint64, error) {
	evs, next, err := s.page(ctx, after, limit)
	if err != nil {
		return nil, nil, err
	}
	list := make([]shard.Event, len(evs))
	for i, e := range evs {
		list[i] = e.Event
	}
	return list, next, nil
}

// shardPage is one shard's events after a position.
type shardPage struct {
	events []shard.Event
	end    uint64 // position after the events (rows that publish nothing included)
}

// page returns up to limit events after the positions, merged over every active shard, and the
// positions after them. Each shard is read in seq order up to its relay horizon (never past a
// change that may still commit), so per-SKU order is exact; shards are interleaved by
// occurred_at, which is a best-effort global order. A row that a reshard copied is left out when
// the positions already cover its original.
func (s *Service) page(ctx context.Context, after map[string]uint64, limit int) ([]pagedEvent, map[string]uint64, error) {
	horizons, err := cluster.SinksValue(ctx, s.cluster, "relay_horizons", (*shard.Sinks).RelayHorizons)
	if err != nil {
		return nil, nil, err
	}
	res, err := cluster.Scatter(ctx, s.cluster, "events", false, func(ctx context.Context, st *shard.Store, _ []int) (shardPage, error) {
		return readShardPage(ctx, st, after, horizons[st.Name()], limit)
	})
	if err != nil {
		return nil, nil, err
	}
	out, next := mergePages(res.Answers, after, limit)
	return out, next, nil
}

// readShardPage reads up to limit events of one shard after its position, up to its horizon.
func readShardPage(ctx context.Context, st *shard.Store, after map[string]uint64, horizon uint64, limit int) (shardPage, error) {
	pos := after[st.Name()]
	// A copied row is left out when the client has read past its original.
	skip := func(origin string, seq uint64) bool { return after[origin] >= seq }
	var page shardPage
	for scanned := 0; pos < horizon && len(page.events) < limit && scanned < 20*limit; scanned += limit {
		evs, last, err := st.Relay().ReadEvents(ctx, pos, horizon, limit, skip)
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
}

// mergePages interleaves the shards' pages by occurred_at (then shard name), keeps the first
// limit events, and returns them with the positions after them.
func mergePages(pages []cluster.Answer[shardPage], after map[string]uint64, limit int) ([]pagedEvent, map[string]uint64) {
	next := maps.Clone(after)
	heads := make([]int, len(pages))
	var out []pagedEvent
	for len(out) < limit {
		best := -1
		for i, a := range pages {
			if heads[i] >= len(a.Value.events) {
				continue
			}
			if best < 0 || cmp.Or(
				a.Value.events[heads[i]].OccurredAt.Compare(pages[best].Value.events[heads[best]].OccurredAt),
				cmp.Compare(a.Shard, pages[best].Shard)) < 0 {
				best = i
			}
		}
		if best < 0 {
			break
		}
		ev := pages[best].Value.events[heads[best]]
		heads[best]++
		next[ev.Shard] = ev.Seq
		out = append(out, pagedEvent{Event: ev, cursor: EncodeCursor(next)})
	}
	for i, a := range pages {
		if heads[i] == len(a.Value.events) {
			next[a.Shard] = max(next[a.Shard], a.Value.end)
		}
	}
	return out, next
}
