package shard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// BatchRequest is one single-line reservation in a coalesced batch for one SKU.
type BatchRequest struct {
	Header Header // one line: Header.Lines[0] is the SKU of the batch
	TTL    time.Duration
	// KeyDerived marks an id derived from an Idempotency-Key: it may exist already (a re-run).
	// Random ids cannot collide, so a batch without key-derived ids skips that lookup.
	KeyDerived bool
}

// BatchResult is one request's own answer from a coalesced batch.
type BatchResult struct {
	Header Header
	Err    error // insufficient_stock, validation_failed, already_applied…
}

// CreateLocalBatch applies many single-line reservations of one SKU in ONE transaction: the
// product row is locked once, requests are served greedily in arrival order (a request that no
// longer fits gets insufficient_stock with the availability it saw, later smaller ones may still
// be served), then one conditional UPDATE applies the batch total and the headers, lines and
// change rows are inserted together. Every request gets its own exact answer. An error return
// (fence moved, shard unavailable) means nothing was applied for anyone.
func (s *Store) CreateLocalBatch(ctx context.Context, sku string, partition int, reqs []BatchRequest) ([]BatchResult, error) {
	out := make([]BatchResult, len(reqs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range out {
			out[i] = BatchResult{}
		}
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		var scale int
		var onHand, reserved int64
		var now time.Time
		err := tx.QueryRowContext(ctx, "SELECT scale, on_hand, reserved, UTC_TIMESTAMP(6) FROM products WHERE sku = ? FOR UPDATE", sku).
			Scan(&scale, &onHand, &reserved, &now)
		if errors.Is(err, sql.ErrNoRows) {
			nf := inventory.Errorf(inventory.CodeNotFound, "product %q not found", sku).WithDetails(map[string]any{"sku": sku})
			for i := range out {
				out[i].Err = nf
			}
			return nil
		}
		if err != nil {
			return err
		}
		existing, err := existingHeaders(ctx, tx, reqs)
		if err != nil {
			return err
		}
		available := onHand - reserved
		var addReserved, addSold int64
		var headerRows, lineRows []string
		var args, lineArgs []any
		var changes []change
		seen := map[string]bool{}
		for i, r := range reqs {
			h := r.Header
			if existing[h.ID] || seen[h.ID] {
				out[i].Err = inventory.Errorf(inventory.CodeAlreadyApplied, "reservation %s already exists", h.ID)
				continue
			}
			units, err := h.Lines[0].Quantity.BaseUnits(scale)
			if err == nil && units <= 0 {
				err = inventory.Errorf(inventory.CodeValidation, "quantity must be positive")
			}
			if err != nil {
				out[i].Err = err
				continue
			}
			if available < units {
				out[i].Err = inventory.Insufficient(inventory.NewShortLine(sku, units, available, scale))
				continue
			}
			available -= units
			seen[h.ID] = true
			status, lineStatus, kind := inventory.StatusHeld, inventory.LineHeld, inventory.KindReserve
			c := change{partition, sku, kind, 0, units, h.ID}
			if h.CommitRequested {
				status, lineStatus = inventory.StatusCommitted, inventory.LineCommitted
				c = change{partition, sku, inventory.KindSale, -units, 0, h.ID}
				addSold += units
			} else {
				addReserved += units
			}
			lines, err := json.Marshal(h.Lines)
			if err != nil {
				return err
			}
			h.Status, h.CreatedAt, h.UpdatedAt, h.ExpiresAt = status, now, now, now.Add(r.TTL)
			headerRows = append(headerRows, "(?,?,?,?,?,?,?,?,?)")
			args = append(args, h.ID, h.Partition, h.OrderID, h.Status, string(lines), h.CommitRequested, h.ExpiresAt, now, now)
			lineRows = append(lineRows, "(?,?,?,?,?,?,?)")
			lineArgs = append(lineArgs, h.ID, sku, partition, units, lineStatus, now, now)
			changes = append(changes, c, headerChange(h.Partition, h.ID, status))
			out[i].Header = h
		}
		if len(headerRows) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE products SET reserved = reserved + ?, on_hand = on_hand - ?, version = version + ?,
			updated_at = UTC_TIMESTAMP(6) WHERE sku = ? AND on_hand - reserved >= ?`,
			addReserved, addSold, len(headerRows), sku, addReserved+addSold)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errors.New("batch reserve: conditional update matched no row under lock")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservations (id, partition_id, order_id, status, lines_json, commit_requested,
			expires_at, created_at, updated_at) VALUES `+strings.Join(headerRows, ","), args...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO reservation_lines (reservation_id, sku, partition_id, quantity, status,
			created_at, updated_at) VALUES `+strings.Join(lineRows, ","), lineArgs...); err != nil {
			return err
		}
		return insertChanges(ctx, tx, changes...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func existingHeaders(ctx context.Context, tx *sql.Tx, reqs []BatchRequest) (map[string]bool, error) {
	var ids []any
	for _, r := range reqs {
		if r.KeyDerived {
			ids = append(ids, r.Header.ID)
		}
	}
	if len(ids) == 0 {
		return map[string]bool{}, nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM reservations WHERE id IN ("+placeholders(len(ids))+")", ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// SettleRequest is one commit or release of a reservation whose header lives in the batch's
// partition.
type SettleRequest struct {
	ID            string
	Action        LineAction // commit or release
	UnexpiredOnly bool       // commits only before expiry
}

// SettleResult is one settle's answer: the header after the attempt and whether this batch
// made the transition. NotLocal means some line lives in another partition: the caller must
// use the cross-shard path. Otherwise, when Moved is false the header was not held and the
// caller judges its state.
type SettleResult struct {
	Header   Header
	Moved    bool
	NotLocal bool
	Err      error
}

// SettleLocalBatch commits or releases many reservations of one partition (header and every
// line in it: the flash-sale case) in ONE transaction: headers and held lines are locked, each
// held header flips to its final status, one UPDATE per SKU applies the summed quantities, and
// the change rows are inserted together. An error return means nothing was applied for anyone.
func (s *Store) SettleLocalBatch(ctx context.Context, partition int, reqs []SettleRequest) ([]SettleResult, error) {
	out := make([]SettleResult, len(reqs))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i := range out {
			out[i] = SettleResult{}
		}
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		ids := make([]any, len(reqs))
		for i, r := range reqs {
			ids[i] = r.ID
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+headerColumns+", UTC_TIMESTAMP(6) >= expires_at FROM reservations WHERE id IN ("+
			placeholders(len(ids))+") ORDER BY id FOR UPDATE", ids...)
		if err != nil {
			return err
		}
		headers := map[string]Header{}
		expired := map[string]bool{}
		for rows.Next() {
			var exp bool
			h, err := scanHeader(scanWithExtra{rows, &exp})
			if err != nil {
				rows.Close()
				return err
			}
			headers[h.ID], expired[h.ID] = h, exp
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		held, err := heldLines(ctx, tx, ids)
		if err != nil {
			return err
		}
		type delta struct{ onHand, reserved, changes int64 }
		perSKU := map[string]*delta{}
		var committed, released []any
		var changes []change
		for i, r := range reqs {
			h, ok := headers[r.ID]
			if !ok {
				out[i].Err = inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", r.ID)
				continue
			}
			local := h.Partition == partition
			for _, l := range h.Lines {
				local = local && l.Partition == partition
			}
			switch {
			case !local:
				out[i].NotLocal = true
				continue
			case h.Status != inventory.StatusHeld || (r.UnexpiredOnly && expired[r.ID]):
				out[i].Header = h // not held (or settled earlier in this batch): the caller judges
				continue
			}
			if len(held[r.ID]) != len(h.Lines) {
				return fmt.Errorf("settle %s: %d of %d lines held under a held header", r.ID, len(held[r.ID]), len(h.Lines))
			}
			h.Status = finalStatus(r.Action)
			headers[r.ID] = h // a later request for the same id in this batch sees the new status
			for _, l := range held[r.ID] {
				d := perSKU[l.SKU]
				if d == nil {
					d = &delta{}
					perSKU[l.SKU] = d
				}
				d.reserved -= l.Quantity
				d.changes++ // every settled reservation is one change of the product's version
				if r.Action == ActionCommit {
					d.onHand -= l.Quantity
					changes = append(changes, change{partition, l.SKU, inventory.KindCommit, -l.Quantity, -l.Quantity, r.ID})
				} else {
					changes = append(changes, change{partition, l.SKU, inventory.KindRelease, 0, -l.Quantity, r.ID})
				}
			}
			if r.Action == ActionCommit {
				committed = append(committed, r.ID)
			} else {
				released = append(released, r.ID)
			}
			changes = append(changes, headerChange(h.Partition, r.ID, h.Status))
			out[i].Header, out[i].Moved = h, true
		}
		if len(committed)+len(released) == 0 {
			return nil
		}
		skus := make([]string, 0, len(perSKU))
		for sku := range perSKU {
			skus = append(skus, sku)
		}
		sort.Strings(skus)
		for _, sku := range skus {
			d := perSKU[sku]
			res, err := tx.ExecContext(ctx, `UPDATE products SET on_hand = on_hand + ?, reserved = reserved + ?, version = version + ?,
				updated_at = UTC_TIMESTAMP(6) WHERE sku = ? AND reserved + ? >= 0 AND on_hand + ? >= 0`,
				d.onHand, d.reserved, d.changes, sku, d.reserved, d.onHand)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("settle batch: product %s does not hold the reserved quantity", sku)
			}
		}
		for _, g := range []struct {
			ids    []any
			header inventory.Status
			ln     inventory.LineStatus
		}{{committed, inventory.StatusCommitted, inventory.LineCommitted}, {released, inventory.StatusReleased, inventory.LineReleased}} {
			if len(g.ids) == 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, "UPDATE reservations SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE id IN ("+placeholders(len(g.ids))+")",
				append([]any{g.header}, g.ids...)...); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "UPDATE reservation_lines SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE status = 'held' AND reservation_id IN ("+
				placeholders(len(g.ids))+")", append([]any{g.ln}, g.ids...)...); err != nil {
				return err
			}
		}
		return insertChanges(ctx, tx, changes...)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func finalStatus(a LineAction) inventory.Status {
	if a == ActionCommit {
		return inventory.StatusCommitted
	}
	return inventory.StatusReleased
}

// heldLines locks and returns the held lines of the reservations, by reservation id.
func heldLines(ctx context.Context, tx *sql.Tx, ids []any) (map[string][]ReservationLine, error) {
	rows, err := tx.QueryContext(ctx, "SELECT reservation_id, sku, quantity FROM reservation_lines WHERE status = 'held' AND reservation_id IN ("+
		placeholders(len(ids))+") ORDER BY reservation_id, sku FOR UPDATE", ids...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]ReservationLine{}
	for rows.Next() {
		var id string
		l := ReservationLine{Status: inventory.LineHeld}
		if err := rows.Scan(&id, &l.SKU, &l.Quantity); err != nil {
			return nil, err
		}
		out[id] = append(out[id], l)
	}
	return out, rows.Err()
}
