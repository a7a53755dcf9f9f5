package shard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// The metadata store keeps the state of change-event delivery: webhook subscriptions, each
// sink's cursor in each shard's change log, each shard relay's horizon and the dead letters.

// Webhook is a subscription: events of the listed types (all when empty) are POSTed to URL,
// signed with Secret.
type Webhook struct {
	ID         string
	URL        string
	EventTypes []string
	Secret     string
	CreatedAt  time.Time
}

// Accepts reports whether the webhook subscribes to events of type typ.
func (w Webhook) Accepts(typ string) bool {
	if len(w.EventTypes) == 0 {
		return true
	}
	for _, t := range w.EventTypes {
		if t == typ {
			return true
		}
	}
	return false
}

// WebhookSink is the cursor name of a webhook's deliveries.
func WebhookSink(id string) string { return "webhook:" + id }

// SinkNATS is the cursor name of the NATS JetStream publisher.
const SinkNATS = "nats"

// CreateWebhook stores w and positions its cursors: on each shard of start, deliveries begin
// after that seq.
func (sk *Sinks) CreateWebhook(ctx context.Context, w Webhook, start map[string]uint64) error {
	types, err := json.Marshal(w.EventTypes)
	if err != nil {
		return err
	}
	tx, err := sk.m.db.BeginTx(ctx, nil)
	if err != nil {
		return metaErr(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "INSERT INTO webhooks (id, url, event_types, secret, created_at) VALUES (?, ?, ?, ?, ?)",
		w.ID, w.URL, string(types), w.Secret, w.CreatedAt); err != nil {
		return metaErr(err)
	}
	for shardName, pos := range start {
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_cursors (sink, shard, position, updated_at)
			VALUES (?, ?, ?, UTC_TIMESTAMP(6))`, WebhookSink(w.ID), shardName, pos); err != nil {
			return metaErr(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return metaErr(err)
	}
	return nil
}

// Webhooks lists every subscription, oldest first.
func (sk *Sinks) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := sk.m.db.QueryContext(ctx, "SELECT id, url, event_types, secret, created_at FROM webhooks ORDER BY created_at, id")
	if err != nil {
		return nil, metaErr(err)
	}
	defer rows.Close()
	var out []Webhook
	for rows.Next() {
		w, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, metaErr(rows.Err())
}

// Webhook returns one subscription (not_found when there is none).
func (sk *Sinks) Webhook(ctx context.Context, id string) (Webhook, error) {
	w, err := scanWebhook(sk.m.db.QueryRowContext(ctx, "SELECT id, url, event_types, secret, created_at FROM webhooks WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return Webhook{}, inventory.Errorf(inventory.CodeNotFound, "webhook %s not found", id)
	}
	return w, err
}

func scanWebhook(row interface{ Scan(...any) error }) (Webhook, error) {
	var w Webhook
	var types string
	if err := row.Scan(&w.ID, &w.URL, &types, &w.Secret, &w.CreatedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return w, err
		}
		return w, metaErr(err)
	}
	if err := json.Unmarshal([]byte(types), &w.EventTypes); err != nil {
		return w, fmt.Errorf("meta store: webhook %s event types: %w", w.ID, err)
	}
	return w, nil
}

// DeleteWebhook removes a subscription with its cursors and dead letters (not_found when there
// is none). It waits for the delivery batches in flight to the webhook (HoldWebhook) and commits
// after they ended: once it returns, the webhook receives nothing more.
func (sk *Sinks) DeleteWebhook(ctx context.Context, id string) error {
	tx, err := sk.m.db.BeginTx(ctx, nil)
	if err != nil {
		return metaErr(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, "DELETE FROM webhooks WHERE id = ?", id)
	if err != nil {
		return metaErr(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return inventory.Errorf(inventory.CodeNotFound, "webhook %s not found", id)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM event_cursors WHERE sink = ?", WebhookSink(id)); err != nil {
		return metaErr(err)
	}
	if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_dead_letters WHERE webhook_id = ?", id); err != nil {
		return metaErr(err)
	}
	if err := tx.Commit(); err != nil {
		return metaErr(err)
	}
	return nil
}

// SinkCursor is a sink's position in one shard's change log and the state of the failing
// delivery of the next event, if any.
type SinkCursor struct {
	Position      uint64
	Epoch         int64
	Attempts      int
	NextAttemptAt time.Time // zero when no retry is pending
	LastError     string
}

// ErrCursorMoved means a sink cursor was repositioned (a redelivery) since it was read.
var ErrCursorMoved = errors.New("event cursor was repositioned")

// OpenSinkCursor returns the sink's cursor on the shard, creating it at start when it does not
// exist yet. A webhook's cursor is created only while the webhook exists (its row is read under
// a shared lock in the same statement); for a deleted webhook it fails with ErrSinkGone and
// leaves nothing behind.
func (sk *Sinks) OpenSinkCursor(ctx context.Context, sink, shardName string, start uint64) (SinkCursor, error) {
	insert, args := `INSERT IGNORE INTO event_cursors (sink, shard, position, updated_at)
		VALUES (?, ?, ?, UTC_TIMESTAMP(6))`, []any{sink, shardName, start}
	if id, ok := webhookOf(sink); ok {
		// INSERT … SELECT reads the webhook row with a shared lock: it cannot interleave with a
		// DeleteWebhook that has not committed yet.
		insert = `INSERT IGNORE INTO event_cursors (sink, shard, position, updated_at)
			SELECT ?, ?, ?, UTC_TIMESTAMP(6) FROM webhooks WHERE id = ?`
		args = append(args, id)
	}
	if _, err := sk.m.db.ExecContext(ctx, insert, args...); err != nil {
		return SinkCursor{}, metaErr(err)
	}
	var c SinkCursor
	var next sql.NullTime
	err := sk.m.db.QueryRowContext(ctx, `SELECT position, epoch, attempts, next_attempt_at, last_error FROM event_cursors
		WHERE sink = ? AND shard = ?`, sink, shardName).Scan(&c.Position, &c.Epoch, &c.Attempts, &next, &c.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return SinkCursor{}, ErrSinkGone
	}
	if err != nil {
		return SinkCursor{}, metaErr(err)
	}
	if next.Valid {
		c.NextAttemptAt = next.Time
	}
	return c, nil
}

// AdvanceSinkCursor records that the sink has everything up to position on the shard and clears
// the retry state. It never moves a cursor back, and fails with ErrCursorMoved when a redelivery
// repositioned the cursor since epoch.
func (sk *Sinks) AdvanceSinkCursor(ctx context.Context, sink, shardName string, epoch int64, position uint64) error {
	return sk.updateCursor(ctx, sink, shardName, epoch, `UPDATE event_cursors SET position = GREATEST(position, ?), attempts = 0,
		next_attempt_at = NULL, last_error = '', updated_at = UTC_TIMESTAMP(6) WHERE sink = ? AND shard = ? AND epoch = ?`,
		position, sink, shardName, epoch)
}

// RecordSinkFailure records a failed delivery of the event after position: the attempts so far
// and when to try again.
func (sk *Sinks) RecordSinkFailure(ctx context.Context, sink, shardName string, epoch int64, position uint64, attempts int, next time.Time, lastErr string) error {
	return sk.updateCursor(ctx, sink, shardName, epoch, `UPDATE event_cursors SET position = GREATEST(position, ?), attempts = ?,
		next_attempt_at = ?, last_error = ?, updated_at = UTC_TIMESTAMP(6) WHERE sink = ? AND shard = ? AND epoch = ?`,
		position, attempts, next.UTC(), truncate(lastErr, 512), sink, shardName, epoch)
}

func (sk *Sinks) updateCursor(ctx context.Context, sink, shardName string, epoch int64, q string, args ...any) error {
	res, err := sk.m.db.ExecContext(ctx, q, args...)
	if err != nil {
		return metaErr(err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var cur int64
	err = sk.m.db.QueryRowContext(ctx, "SELECT epoch FROM event_cursors WHERE sink = ? AND shard = ?", sink, shardName).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) || err == nil && cur != epoch {
		return ErrCursorMoved
	}
	if err != nil {
		return metaErr(err)
	}
	return nil // matched but unchanged
}

// DeadLetter is a webhook delivery given up on.
type DeadLetter struct {
	ID        int64     `json:"id"`
	WebhookID string    `json:"webhook_id"`
	Shard     string    `json:"-"`
	Seq       uint64    `json:"-"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Body      string    `json:"-"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error"`
	CreatedAt time.Time `json:"created_at"`
}

// AddDeadLetter stores d and moves the webhook's cursor past its event, in one transaction.
func (sk *Sinks) AddDeadLetter(ctx context.Context, d DeadLetter, epoch int64) error {
	tx, err := sk.m.db.BeginTx(ctx, nil)
	if err != nil {
		return metaErr(err)
	}
	defer tx.Rollback()
	var cur int64
	err = tx.QueryRowContext(ctx, "SELECT epoch FROM event_cursors WHERE sink = ? AND shard = ? FOR UPDATE", WebhookSink(d.WebhookID), d.Shard).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) || err == nil && cur != epoch {
		return ErrCursorMoved
	}
	if err != nil {
		return metaErr(err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_dead_letters (webhook_id, shard, seq, event_id, event_type, body,
		attempts, last_error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6))`,
		d.WebhookID, d.Shard, d.Seq, d.EventID, d.EventType, d.Body, d.Attempts, truncate(d.LastError, 512)); err != nil {
		return metaErr(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE event_cursors SET position = GREATEST(position, ?), attempts = 0, next_attempt_at = NULL,
		last_error = '', updated_at = UTC_TIMESTAMP(6) WHERE sink = ? AND shard = ?`, d.Seq, WebhookSink(d.WebhookID), d.Shard); err != nil {
		return metaErr(err)
	}
	if err := tx.Commit(); err != nil {
		return metaErr(err)
	}
	return nil
}

// DeadLetters lists a webhook's dead letters with id > after, oldest first.
func (sk *Sinks) DeadLetters(ctx context.Context, webhookID string, after int64, limit int) ([]DeadLetter, error) {
	rows, err := sk.m.db.QueryContext(ctx, `SELECT id, webhook_id, shard, seq, event_id, event_type, body, attempts, last_error, created_at
		FROM webhook_dead_letters WHERE webhook_id = ? AND id > ? ORDER BY id LIMIT ?`, webhookID, after, limit)
	if err != nil {
		return nil, metaErr(err)
	}
	defer rows.Close()
	var out []DeadLetter
	for rows.Next() {
		var d DeadLetter
		if err := rows.Scan(&d.ID, &d.WebhookID, &d.Shard, &d.Seq, &d.EventID, &d.EventType, &d.Body, &d.Attempts, &d.LastError, &d.CreatedAt); err != nil {
			return nil, metaErr(err)
		}
		out = append(out, d)
	}
	return out, metaErr(rows.Err())
}

// RepositionSink sets the sink's cursor on each shard of positions (creating missing cursors),
// bumps their epochs so running relays reload them, and clears the retry state: the events
// after those positions are delivered again. For a webhook that does not exist (deleted
// meanwhile) it is not_found and creates nothing.
func (sk *Sinks) RepositionSink(ctx context.Context, sink string, positions map[string]uint64) error {
	tx, err := sk.m.db.BeginTx(ctx, nil)
	if err != nil {
		return metaErr(err)
	}
	defer tx.Rollback()
	if id, ok := webhookOf(sink); ok {
		if err := lockWebhook(ctx, tx, id); err != nil {
			return err
		}
	}
	for shardName, pos := range positions {
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_cursors (sink, shard, position, epoch, updated_at)
			VALUES (?, ?, ?, 1, UTC_TIMESTAMP(6)) ON DUPLICATE KEY UPDATE position = VALUES(position), epoch = epoch + 1,
			attempts = 0, next_attempt_at = NULL, last_error = '', updated_at = VALUES(updated_at)`, sink, shardName, pos); err != nil {
			return metaErr(err)
		}
	}
	if err := tx.Commit(); err != nil {
		return metaErr(err)
	}
	return nil
}

// SinkPositions returns the sink's position on every shard it has a cursor for.
func (sk *Sinks) SinkPositions(ctx context.Context, sink string) (map[string]uint64, error) {
	return sk.shardPositions(ctx, "SELECT shard, position FROM event_cursors WHERE sink = ?", sink)
}

// shardPositions runs a query of (shard, seq) pairs and returns them as a map.
func (sk *Sinks) shardPositions(ctx context.Context, q string, args ...any) (map[string]uint64, error) {
	rows, err := sk.m.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, metaErr(err)
	}
	defer rows.Close()
	out := map[string]uint64{}
	for rows.Next() {
		var s string
		var p uint64
		if err := rows.Scan(&s, &p); err != nil {
			return nil, metaErr(err)
		}
		out[s] = p
	}
	return out, metaErr(rows.Err())
}

// SetRelayHorizon records a shard relay's horizon (never moving it back) and its holder.
func (sk *Sinks) SetRelayHorizon(ctx context.Context, shardName string, horizon uint64, holder string) error {
	_, err := sk.m.db.ExecContext(ctx, `INSERT INTO event_relays (shard, horizon, holder, updated_at) VALUES (?, ?, ?, UTC_TIMESTAMP(6))
		ON DUPLICATE KEY UPDATE horizon = GREATEST(horizon, VALUES(horizon)), holder = VALUES(holder), updated_at = VALUES(updated_at)`,
		shardName, horizon, truncate(holder, 128))
	if err != nil {
		return metaErr(err)
	}
	return nil
}

// RelayHorizons returns the horizon of every shard whose relay has run: readers of the change
// log (polling, streams) stop there.
func (sk *Sinks) RelayHorizons(ctx context.Context) (map[string]uint64, error) {
	return sk.shardPositions(ctx, "SELECT shard, horizon FROM event_relays")
}

// EventLowWatermarks returns, for each named shard, the lowest change seq that some event relay
// cursor has not consumed yet: the minimum over the relay's horizon and every sink cursor on that
// shard (a webhook without a cursor there yet counts as position 0), plus one. Change rows with
// seq below the watermark have been delivered (or dead-lettered) to every sink, so retention may
// delete them; rows at or above it must stay. A shard whose relay never ran gets 1 (keep all).
// Clients of GET /v1/events keep their own cursors and are not protected.
func (sk *Sinks) EventLowWatermarks(ctx context.Context, shards []string) (map[string]uint64, error) {
	horizons, err := sk.RelayHorizons(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, s := range shards {
		out[s] = horizons[s] + 1
	}
	rows, err := sk.m.db.QueryContext(ctx, `SELECT c.shard, c.position FROM event_cursors c
		UNION ALL SELECT s.name, 0 FROM webhooks w JOIN shards s
		WHERE NOT EXISTS (SELECT 1 FROM event_cursors c WHERE c.sink = CONCAT('webhook:', w.id) AND c.shard = s.name)`)
	if err != nil {
		return nil, metaErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		var pos uint64
		if err := rows.Scan(&s, &pos); err != nil {
			return nil, metaErr(err)
		}
		if cur, ok := out[s]; ok && pos+1 < cur {
			out[s] = pos + 1
		}
	}
	return out, metaErr(rows.Err())
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
