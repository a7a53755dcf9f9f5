package shard

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Event types published for change-log rows.
const (
	EventStockChanged         = "stock.changed"
	EventStockLow             = "stock.low"
	EventStockOut             = "stock.out"
	EventStockRestored        = "stock.restored"
	EventReservationHeld      = "reservation.held"
	EventReservationCommitted = "reservation.committed"
	EventReservationReleased  = "reservation.released"
	EventReservationExpired   = "reservation.expired"
	EventProductUpdated       = "product.updated"
)

// EventTypes lists every event type, for validating subscriptions.
var EventTypes = []string{EventStockChanged, EventStockLow, EventStockOut, EventStockRestored,
	EventReservationHeld, EventReservationCommitted, EventReservationReleased, EventReservationExpired,
	EventProductUpdated}

// EventType returns the event a change-log row publishes, or "" for rows that publish none
// (tombstones, transient reservation statuses, rows that change nothing). Each row publishes at
// most one event, so "one event per change" holds by construction.
func EventType(kind inventory.ChangeKind, deltaOnHand, deltaReserved int64) string {
	switch kind {
	case inventory.KindAlertLow:
		return EventStockLow
	case inventory.KindAlertOut:
		return EventStockOut
	case inventory.KindAlertResolved:
		return EventStockRestored
	case inventory.HeaderKind(inventory.StatusHeld):
		return EventReservationHeld
	case inventory.HeaderKind(inventory.StatusCommitted):
		return EventReservationCommitted
	case inventory.HeaderKind(inventory.StatusReleased):
		return EventReservationReleased
	case inventory.HeaderKind(inventory.StatusExpired):
		return EventReservationExpired
	case inventory.KindCreate, inventory.KindProduct:
		return EventProductUpdated
	}
	if deltaOnHand != 0 || deltaReserved != 0 {
		return EventStockChanged
	}
	return ""
}

// Event is one published change. ID is stable across reshards: the shard and seq where the change
// was first written, so copies of a row that a reshard made carry the same ID.
type Event struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	OccurredAt time.Time      `json:"occurred_at"`
	SKU        string         `json:"sku"`
	Data       map[string]any `json:"data"`

	// Shard and Seq locate the row in the change log it was read from (the cursor position).
	Shard string `json:"-"`
	Seq   uint64 `json:"-"`
	// Origin is set when the row is a copy made by a reshard: where it was first written.
	OriginShard string `json:"-"`
	OriginSeq   uint64 `json:"-"`
}

// IsCopy reports whether the event was read from a row that a reshard copied from another log.
func (e Event) IsCopy() bool {
	return e.OriginShard != "" && (e.OriginShard != e.Shard || e.OriginSeq != e.Seq)
}

// eventData is the type-specific payload; quantities are exact decimals in the product's scale.
func eventData(typ string, kind inventory.ChangeKind, deltaOnHand, deltaReserved int64, ref string, scale int) map[string]any {
	switch typ {
	case EventStockChanged:
		d := map[string]any{"reason": kind, "delta_on_hand": json.Number(inventory.FormatUnits(deltaOnHand, scale)),
			"delta_reserved":  json.Number(inventory.FormatUnits(deltaReserved, scale)),
			"delta_available": json.Number(inventory.FormatUnits(deltaOnHand-deltaReserved, scale))}
		if ref != "" {
			d["ref"] = ref // the reservation, lot or request the change belongs to
		}
		return d
	case EventStockLow, EventStockOut, EventStockRestored:
		return map[string]any{"alert_id": ref}
	case EventReservationHeld, EventReservationCommitted, EventReservationReleased, EventReservationExpired:
		return map[string]any{"reservation_id": ref, "status": headerStatus(kind)}
	case EventProductUpdated:
		return map[string]any{"created": kind == inventory.KindCreate}
	}
	return map[string]any{}
}

const readEventsQuery = `SELECT c.seq, c.sku, c.kind, c.delta_on_hand, c.delta_reserved, c.ref, c.created_at,
	c.origin_shard, c.origin_seq, COALESCE(p.scale, 0)
	FROM changes c LEFT JOIN products p ON p.sku = c.sku
	WHERE c.seq > ? AND c.seq <= ? ORDER BY c.seq LIMIT ?`

// ReadEvents returns the events of the change-log rows with after < seq <= upTo, scanning at most
// limit rows in seq order, and the seq of the last row scanned (after when none). Rows that
// publish nothing are scanned but not returned. skipCopy, when not nil, is asked about every row
// a reshard copied here from another log; returning true drops it (the reader already has it).
func (r *Relay) ReadEvents(ctx context.Context, after, upTo uint64, limit int,
	skipCopy func(originShard string, originSeq uint64) bool) ([]Event, uint64, error) {
	if upTo <= after || limit <= 0 {
		return nil, after, nil
	}
	rows, err := r.s.db.QueryContext(ctx, readEventsQuery, after, upTo, limit)
	if err != nil {
		return nil, after, r.s.classify(err)
	}
	defer rows.Close()
	last := after
	var out []Event
	for rows.Next() {
		var (
			seq         uint64
			sku, ref    string
			kind        inventory.ChangeKind
			dOn, dRes   int64
			at          time.Time
			originShard sql.NullString
			originSeq   sql.NullInt64
			scale       int
		)
		if err := rows.Scan(&seq, &sku, &kind, &dOn, &dRes, &ref, &at, &originShard, &originSeq, &scale); err != nil {
			return nil, after, r.s.classify(err)
		}
		last = seq
		typ := EventType(kind, dOn, dRes)
		if typ == "" {
			continue
		}
		ev := Event{Type: typ, OccurredAt: at.UTC(), SKU: sku, Data: eventData(typ, kind, dOn, dRes, ref, scale),
			Shard: r.s.name, Seq: seq}
		ev.ID = EventID(r.s.name, seq)
		if originShard.Valid && originSeq.Valid {
			ev.OriginShard, ev.OriginSeq = originShard.String, uint64(originSeq.Int64)
			ev.ID = EventID(ev.OriginShard, ev.OriginSeq)
			if ev.IsCopy() && skipCopy != nil && skipCopy(ev.OriginShard, ev.OriginSeq) {
				continue
			}
		}
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, after, r.s.classify(err)
	}
	return out, last, nil
}

// MaxChangeSeq returns the highest seq in the change log (0 when empty).
func (r *Relay) MaxChangeSeq(ctx context.Context) (uint64, error) {
	var seq uint64
	if err := r.s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes").Scan(&seq); err != nil {
		return 0, r.s.classify(err)
	}
	return seq, nil
}

// ErrRelayLeaseLost means the relay lease's connection or lock is gone: another gateway may run
// the relay now, so this one must stop.
var ErrRelayLeaseLost = errors.New("relay lease lost")

// RelayLease is the right to run the event relay of one shard: a MySQL named lock (GET_LOCK)
// held by a dedicated connection. The server releases it when that connection ends, so a
// gateway that dies or loses its connection loses the lease, and another one can take it.
type RelayLease struct {
	store *Store
	conn  *sql.Conn
	name  string
	// gaps remembers when each hole in the seq sequence was first seen (see AdvanceHorizon).
	gaps map[uint64]time.Time
}

const relayLockPrefix = "shardstock_relay:"

// AcquireRelayLease tries once to take the relay lease of this shard. It returns nil, nil when
// another connection holds it. Named locks are per server, so the name includes the database.
func (r *Relay) AcquireRelayLease(ctx context.Context) (*RelayLease, error) {
	conn, err := r.s.db.Conn(ctx)
	if err != nil {
		return nil, r.s.classify(err)
	}
	l := &RelayLease{store: r.s, conn: conn, gaps: map[uint64]time.Time{}}
	var db sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&db); err != nil {
		l.discard()
		return nil, r.s.classify(err)
	}
	l.name = relayLockPrefix + db.String
	if len(l.name) > 64 {
		sum := sha1.Sum([]byte(db.String))
		l.name = relayLockPrefix + hex.EncodeToString(sum[:])
	}
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", l.name).Scan(&got); err != nil {
		l.discard()
		return nil, r.s.classify(err)
	}
	if !got.Valid || got.Int64 != 1 {
		_ = conn.Close() // holds nothing: back to the pool
		return nil, nil
	}
	// A reader waiting on an in-flight writer gives up quickly; the next poll tries again.
	// (This connection never returns to the pool, so the setting stays with it.)
	if _, err := conn.ExecContext(ctx, "SET SESSION innodb_lock_wait_timeout = 5"); err != nil {
		l.discard()
		return nil, r.s.classify(err)
	}
	return l, nil
}

// Check verifies that the lease's connection still holds the lock.
func (l *RelayLease) Check(ctx context.Context) error {
	var mine sql.NullInt64
	err := l.conn.QueryRowContext(ctx, "SELECT IS_USED_LOCK(?) = CONNECTION_ID()", l.name).Scan(&mine)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %v", ErrRelayLeaseLost, err)
	}
	if !mine.Valid || mine.Int64 != 1 {
		return ErrRelayLeaseLost
	}
	return nil
}

// Release gives the lease up: RELEASE_LOCK first (synchronous; a closed connection's locks are
// dropped by the server asynchronously), then the connection is closed.
func (l *RelayLease) Release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, _ = l.conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", l.name)
	l.discard()
}

// discard closes the physical connection rather than returning it to the pool: a pooled
// connection would keep the named lock.
func (l *RelayLease) discard() {
	_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = l.conn.Close()
}

// AdvanceHorizon returns the new horizon of the change log given the current one: the highest
// seq h such that every change with seq <= h is committed or will never be, so readers that stop
// at the horizon never pass over a change that commits later (AUTO_INCREMENT order is not commit
// order).
//
// It reads the seqs above horizon with a locking read in READ COMMITTED (no gap locks, so writers
// are not blocked): InnoDB makes it wait for every in-flight transaction whose change row it
// meets, so each row it returns is committed and each one it meets uncommitted is waited for.
// A hole that remains is a rolled-back insert, a duplicate in a reshard copy, or (for a few
// microseconds) a seq that a writer has taken but not yet inserted; the horizon passes a hole
// only once it has been seen for gapGrace.
func (l *RelayLease) AdvanceHorizon(ctx context.Context, horizon uint64, limit int, gapGrace time.Duration) (uint64, error) {
	tx, err := l.conn.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return horizon, l.lost(ctx, err)
	}
	rows, err := tx.QueryContext(ctx, "SELECT seq FROM changes WHERE seq > ? ORDER BY seq LIMIT ? LOCK IN SHARE MODE", horizon, limit)
	if err != nil {
		_ = tx.Rollback()
		return horizon, l.lost(ctx, err)
	}
	var seqs []uint64
	for rows.Next() {
		var seq uint64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			_ = tx.Rollback()
			return horizon, l.lost(ctx, err)
		}
		seqs = append(seqs, seq)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		_ = tx.Rollback()
		return horizon, l.lost(ctx, err)
	}
	if err := tx.Commit(); err != nil {
		return horizon, l.lost(ctx, err)
	}
	now := time.Now()
	for _, seq := range seqs {
		if seq > horizon+1 {
			first, seen := l.gaps[horizon+1]
			if !seen {
				l.gaps[horizon+1] = now
				break
			}
			if now.Sub(first) < gapGrace {
				break
			}
		}
		horizon = seq
	}
	for g := range l.gaps {
		if g <= horizon {
			delete(l.gaps, g)
		}
	}
	return horizon, nil
}

// lost classifies an error on the lease connection: a lock wait timeout is a retry, anything else
// on that connection means the lease can no longer be trusted.
func (l *RelayLease) lost(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if isRetryable(err) {
		return l.store.classify(err)
	}
	return fmt.Errorf("%w: %v", ErrRelayLeaseLost, err)
}

// EventID is an event's stable id: derived from the change row's origin (the shard and seq where
// it was first written, kept when a reshard copies the row), so every copy of a change has the
// same id. It is opaque — shard names appear in no business response — and 26 characters.
func EventID(originShard string, originSeq uint64) string {
	sum := sha256.Sum256([]byte(originShard + ":" + strconv.FormatUint(originSeq, 10)))
	return "e" + base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:16])[:25]
}

// headerStatus is the status a header change kind records.
func headerStatus(kind inventory.ChangeKind) inventory.Status {
	st, _ := kind.HeaderStatus()
	return st
}
