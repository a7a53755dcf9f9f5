package shard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// LineRequest is one requested line: SKU, its partition and the exact requested quantity.
type LineRequest struct {
	SKU       string             `json:"sku"`
	Partition int                `json:"partition"`
	Quantity  inventory.Quantity `json:"-"`
	// Requested is Quantity printed exactly; it is what the header stores and echoes.
	Requested string `json:"quantity"`
}

// Header is a reservation's coordinator record.
type Header struct {
	ID              string
	Partition       int
	OrderID         string
	Status          inventory.Status
	Lines           []LineRequest
	CommitRequested bool
	ExpiresAt       time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

const headerColumns = "id, partition_id, order_id, status, lines_json, commit_requested, expires_at, created_at, updated_at"

// headerColumnsR is headerColumns qualified with the reservations alias r.
const headerColumnsR = "r.id, r.partition_id, r.order_id, r.status, r.lines_json, r.commit_requested, r.expires_at, r.created_at, r.updated_at"

func scanHeader(row interface{ Scan(...any) error }) (Header, error) {
	var h Header
	var lines string
	err := row.Scan(&h.ID, &h.Partition, &h.OrderID, &h.Status, &lines, &h.CommitRequested, &h.ExpiresAt, &h.CreatedAt, &h.UpdatedAt)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal([]byte(lines), &h.Lines); err != nil {
		return h, fmt.Errorf("reservation %s: bad lines_json: %w", h.ID, err)
	}
	for i := range h.Lines {
		d, err := inventory.ParseQuantity(h.Lines[i].Requested)
		if err != nil {
			return h, fmt.Errorf("reservation %s: %w", h.ID, err)
		}
		h.Lines[i].Quantity = d
	}
	return h, nil
}

// GetHeader reads a reservation header of the given partition (not_found when absent). Like
// every read it checks the fence, so a stale gateway is sent to the partition's new owner.
func (s *Store) GetHeader(ctx context.Context, id string, partition int) (Header, error) {
	h, err := scanHeader(s.db.QueryRowContext(ctx, "SELECT "+headerColumnsR+` FROM reservations r
		JOIN partition_fence f ON f.partition_id = r.partition_id AND f.state = 'owned' WHERE r.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		if err := s.requireOwned(ctx, []int{partition}); err != nil {
			return Header{}, err
		}
		return Header{}, inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", id)
	}
	if err != nil {
		return Header{}, s.classify(err)
	}
	return h, nil
}

func insertHeader(ctx context.Context, tx *sql.Tx, h Header, ttl time.Duration) error {
	lines, err := json.Marshal(h.Lines)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO reservations (id, partition_id, order_id, status, lines_json, commit_requested,
		expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
		h.ID, h.Partition, h.OrderID, h.Status, string(lines), h.CommitRequested, ttl.Microseconds())
	if isDuplicate(err) {
		return inventory.Errorf(inventory.CodeAlreadyApplied, "reservation %s already exists", h.ID)
	}
	if err != nil {
		return err
	}
	return insertChanges(ctx, tx, headerChange(h.Partition, h.ID, h.Status))
}

// headerChange logs a header write. Header rows carry no stock, but the change log must see
// every mutation of a partitioned row: resharding catch-up re-copies what it names, and the
// event relay turns it into reservation events.
func headerChange(partition int, id string, status inventory.Status) change {
	return change{partition, "", inventory.HeaderKind(status), 0, 0, id}
}

func linePartitions(lines []LineRequest) []int {
	ps := make([]int, len(lines))
	for i, l := range lines {
		ps[i] = l.Partition
	}
	return ps
}

// sortedLines returns the lines ordered by SKU, the lock order every transaction follows.
func sortedLines(lines []LineRequest) []LineRequest {
	out := append([]LineRequest(nil), lines...)
	sort.Slice(out, func(i, j int) bool { return out[i].SKU < out[j].SKU })
	return out
}

// CreateLocal is the fast path for a reservation whose header and lines all live on this
// shard: one transaction writes the header (held, or committed when h.CommitRequested), every
// line and its change-log row. All lines or none; every short line is reported.
func (s *Store) CreateLocal(ctx context.Context, h Header, ttl time.Duration) (Header, error) {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, append(linePartitions(h.Lines), h.Partition)...); err != nil {
			return err
		}
		hh := h
		hh.Status = inventory.StatusHeld
		if h.CommitRequested {
			hh.Status = inventory.StatusCommitted
		}
		if err := insertHeader(ctx, tx, hh, ttl); err != nil {
			return err
		}
		lineStatus := inventory.LineHeld
		if h.CommitRequested {
			lineStatus = inventory.LineCommitted
		}
		return reserveLines(ctx, tx, h.ID, h.Lines, lineStatus)
	})
	if err != nil {
		return Header{}, err
	}
	return s.GetHeader(ctx, h.ID, h.Partition)
}

// InsertHeader writes a saga's header with status pending (already_applied when it exists).
func (s *Store) InsertHeader(ctx context.Context, h Header, ttl time.Duration) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, h.Partition); err != nil {
			return err
		}
		h.Status = inventory.StatusPending
		return insertHeader(ctx, tx, h, ttl)
	})
}

// ReserveLines reserves the lines of reservation id that live on this shard, in one
// transaction. A line already held for this reservation is left as it is (replays are safe);
// a line already released or committed (a tombstone left by a rollback) fails with
// invalid_state so a late coordinator cannot resurrect a rolled-back reservation.
func (s *Store) ReserveLines(ctx context.Context, id string, lines []LineRequest) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, linePartitions(lines)...); err != nil {
			return err
		}
		return reserveLines(ctx, tx, id, lines, inventory.LineHeld)
	})
}

// reserveLines locks each line's product in SKU order, collects every short line, and only
// when all fit updates the products and writes lines and changes.
func reserveLines(ctx context.Context, tx *sql.Tx, id string, lines []LineRequest, status inventory.LineStatus) error {
	var short []inventory.ShortLine
	type apply struct {
		l     LineRequest
		units int64
	}
	var todo []apply
	for _, l := range sortedLines(lines) {
		var scale int
		var onHand, reserved int64
		err := tx.QueryRowContext(ctx, "SELECT scale, on_hand, reserved FROM products WHERE sku = ? FOR UPDATE", l.SKU).
			Scan(&scale, &onHand, &reserved)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", l.SKU).WithDetails(map[string]any{"sku": l.SKU})
		}
		if err != nil {
			return err
		}
		units, err := l.Quantity.BaseUnits(scale)
		if err != nil {
			return err
		}
		if units <= 0 {
			return inventory.Errorf(inventory.CodeValidation, "quantity must be positive")
		}
		var existing inventory.LineStatus
		err = tx.QueryRowContext(ctx, "SELECT status FROM reservation_lines WHERE reservation_id = ? AND sku = ? FOR UPDATE", id, l.SKU).Scan(&existing)
		switch {
		case err == nil && existing == status:
			continue // replay of a line already applied
		case err == nil:
			return inventory.Errorf(inventory.CodeInvalidState, "reservation %s line %s is already %s", id, l.SKU, existing)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if onHand-reserved < units {
			short = append(short, inventory.NewShortLine(l.SKU, units, onHand-reserved, scale))
			continue
		}
		todo = append(todo, apply{l, units})
	}
	if len(short) > 0 {
		return inventory.Insufficient(short...)
	}
	changes := make([]change, 0, len(todo))
	for _, a := range todo {
		var q string
		var c change
		if status == inventory.LineCommitted {
			q = `UPDATE products SET on_hand = on_hand - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
				WHERE sku = ? AND on_hand - reserved >= ?`
			c = change{a.l.Partition, a.l.SKU, inventory.KindSale, -a.units, 0, id}
		} else {
			q = `UPDATE products SET reserved = reserved + ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
				WHERE sku = ? AND on_hand - reserved >= ?`
			c = change{a.l.Partition, a.l.SKU, inventory.KindReserve, 0, a.units, id}
		}
		res, err := tx.ExecContext(ctx, q, a.units, a.l.SKU, a.units)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("reserve %s: conditional update matched %d rows under lock", a.l.SKU, n)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, sku, partition_id, quantity, status,
			created_at, updated_at) VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`,
			id, a.l.SKU, a.l.Partition, a.units, status); err != nil {
			return err
		}
		changes = append(changes, c)
	}
	return insertChanges(ctx, tx, changes...)
}

// LineAction is what ApplyLines does to held lines.
type LineAction string

// Line actions.
const (
	ActionCommit  LineAction = "commit"
	ActionRelease LineAction = "release"
)

// ApplyLines commits or releases the held lines of reservation id on this shard, idempotently:
// lines already final are skipped. When releasing, a line that does not exist yet gets a
// tombstone so a late reserve of it fails. kind is the change-log kind (commit, release, expire).
func (s *Store) ApplyLines(ctx context.Context, id string, lines []LineRequest, action LineAction, kind inventory.ChangeKind) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, linePartitions(lines)...); err != nil {
			return err
		}
		return applyLines(ctx, tx, id, lines, action, kind)
	})
}

func applyLines(ctx context.Context, tx *sql.Tx, id string, lines []LineRequest, action LineAction, kind inventory.ChangeKind) error {
	var changes []change
	for _, l := range sortedLines(lines) {
		var qty int64
		var status inventory.LineStatus
		err := tx.QueryRowContext(ctx, "SELECT quantity, status FROM reservation_lines WHERE reservation_id = ? AND sku = ? FOR UPDATE", id, l.SKU).
			Scan(&qty, &status)
		if errors.Is(err, sql.ErrNoRows) {
			if action == ActionCommit {
				return fmt.Errorf("commit reservation %s: line %s was never reserved", id, l.SKU)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, sku, partition_id, quantity, status,
				created_at, updated_at) VALUES (?, ?, ?, 0, 'released', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`, id, l.SKU, l.Partition); err != nil {
				return err
			}
			changes = append(changes, change{l.Partition, l.SKU, inventory.KindTombstone, 0, 0, id})
			continue
		}
		if err != nil {
			return err
		}
		if status != inventory.LineHeld {
			continue
		}
		var q string
		var lineStatus inventory.LineStatus
		var c change
		if action == ActionCommit {
			q = `UPDATE products SET on_hand = on_hand - ?, reserved = reserved - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
				WHERE sku = ? AND reserved >= ? AND on_hand >= ?`
			lineStatus, c = inventory.LineCommitted, change{l.Partition, l.SKU, kind, -qty, -qty, id}
		} else {
			q = `UPDATE products SET reserved = reserved - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
				WHERE sku = ? AND reserved >= ? AND ? >= 0 AND on_hand >= 0`
			lineStatus, c = inventory.LineReleased, change{l.Partition, l.SKU, kind, 0, -qty, id}
		}
		args := []any{qty, qty, l.SKU, qty, qty}
		if action == ActionRelease {
			args = []any{qty, l.SKU, qty, qty}
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("%s reservation %s line %s: product row does not hold the reserved quantity", action, id, l.SKU)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE reservation_lines SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE reservation_id = ? AND sku = ?",
			lineStatus, id, l.SKU); err != nil {
			return err
		}
		changes = append(changes, c)
	}
	return insertChanges(ctx, tx, changes...)
}

// TransitionHeader moves the header from one of the statuses in from to status to. With
// unexpiredOnly the header must also not be past its expiry. It returns the header as it is
// after the attempt and whether this call made the transition.
func (s *Store) TransitionHeader(ctx context.Context, id string, partition int, from []inventory.Status, to inventory.Status, unexpiredOnly bool) (Header, bool, error) {
	return s.transition(ctx, id, partition, from, to, unexpiredOnly, nil)
}

// transition runs transitionHeader in a transaction that checks the header's fence first and,
// when the header moved and then is not nil, runs then in the same transaction.
func (s *Store) transition(ctx context.Context, id string, partition int, from []inventory.Status, to inventory.Status, unexpiredOnly bool,
	then func(tx *sql.Tx, h Header) error) (Header, bool, error) {
	var h Header
	var moved bool
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		var err error
		h, moved, err = transitionHeader(ctx, tx, id, from, to, unexpiredOnly)
		if err != nil || !moved || then == nil {
			return err
		}
		return then(tx, h)
	})
	return h, moved, err
}

func transitionHeader(ctx context.Context, tx *sql.Tx, id string, from []inventory.Status, to inventory.Status, unexpiredOnly bool) (Header, bool, error) {
	var expired bool
	row := tx.QueryRowContext(ctx, "SELECT "+headerColumns+", UTC_TIMESTAMP(6) >= expires_at FROM reservations WHERE id = ? FOR UPDATE", id)
	h, err := scanHeader(scanWithExtra{row, &expired})
	if errors.Is(err, sql.ErrNoRows) {
		return Header{}, false, inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", id)
	}
	if err != nil {
		return Header{}, false, err
	}
	if !slices.Contains(from, h.Status) || (unexpiredOnly && expired) {
		return h, false, nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE reservations SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?", to, id); err != nil {
		return h, false, err
	}
	h.Status = to
	return h, true, insertChanges(ctx, tx, headerChange(h.Partition, id, to))
}

// scanWithExtra appends one more destination to a row scan.
type scanWithExtra struct {
	row   interface{ Scan(...any) error }
	extra any
}

func (s scanWithExtra) Scan(dest ...any) error { return s.row.Scan(append(dest, s.extra)...) }

// FinishLocal commits or releases a reservation whose header and lines all live on this shard
// in one transaction: header flip (guarded by status and, for a commit, expiry), lines, final
// status. It returns the header afterwards and whether this call changed it; a header that
// was not in an allowed from-status is returned unchanged for the caller to judge.
func (s *Store) FinishLocal(ctx context.Context, id string, partition int, from []inventory.Status, final inventory.Status, action LineAction, kind inventory.ChangeKind, unexpiredOnly bool) (Header, bool, error) {
	return s.transition(ctx, id, partition, from, final, unexpiredOnly, func(tx *sql.Tx, h Header) error {
		if err := checkFence(ctx, tx, linePartitions(h.Lines)...); err != nil {
			return err
		}
		return applyLines(ctx, tx, id, h.Lines, action, kind)
	})
}

// StuckHeaders lists headers the recovery worker must finish: pending or in-flight
// (committing, releasing, expiring) untouched for longer than grace, and held ones past
// their expiry. At most limit of each kind.
func (u *Upkeep) StuckHeaders(ctx context.Context, grace time.Duration, limit int) ([]Header, error) {
	// Headers left behind in partitions this shard no longer owns (moved by a reshard, not yet
	// cleaned up) are stale copies: the owner's copy is the one to finish.
	const owned = ` AND partition_id IN (SELECT partition_id FROM partition_fence WHERE state = 'owned')`
	q := `(SELECT ` + headerColumns + ` FROM reservations WHERE status = 'held' AND expires_at <= UTC_TIMESTAMP(6)` + owned + ` ORDER BY expires_at LIMIT ?)
	UNION ALL (SELECT ` + headerColumns + ` FROM reservations WHERE status IN ('pending','committing','releasing','expiring')
		AND updated_at <= UTC_TIMESTAMP(6) - INTERVAL ? MICROSECOND` + owned + ` ORDER BY updated_at LIMIT ?)`
	return u.s.queryHeaders(ctx, q, limit, grace.Microseconds(), limit)
}

// queryHeaders runs a query selecting headerColumns and scans every header.
func (s *Store) queryHeaders(ctx context.Context, q string, args ...any) ([]Header, error) {
	var out []Header
	err := s.scanRows(ctx, s.db, q, args, func(rows *sql.Rows) error {
		h, err := scanHeader(rows)
		out = append(out, h)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReservationLine is a stored line with its base-unit quantity and status.
type ReservationLine struct {
	SKU      string
	Quantity int64
	Status   inventory.LineStatus
}

// AllHeaders reads every reservation header on this shard (for the verifier).
func (lg *Ledger) AllHeaders(ctx context.Context) ([]Header, error) {
	return lg.s.queryHeaders(ctx, "SELECT "+headerColumns+" FROM reservations")
}
