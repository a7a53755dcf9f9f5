package shard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// BatchRequest is one single-line reservation in a coalesced batch for one SKU.
type BatchRequest struct {
	Header Header // one line: Header.Lines[0] is the SKU of the batch
	TTL    time.Duration
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
			nf := Errorf(CodeNotFound, "product %q not found", sku).WithDetails(map[string]any{"sku": sku})
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
				out[i].Err = Errorf(CodeAlreadyApplied, "reservation %s already exists", h.ID)
				continue
			}
			units, err := h.Lines[0].Quantity.Units(scale)
			if err == nil && units <= 0 {
				err = Errorf(CodeValidation, "quantity must be positive")
			}
			if err != nil {
				out[i].Err = err
				continue
			}
			if available < units {
				out[i].Err = Insufficient(shortLine(sku, units, available, scale))
				continue
			}
			available -= units
			seen[h.ID] = true
			status, lineStatus, kind := StatusHeld, LineHeld, "reserve"
			c := change{partition, sku, kind, 0, units, h.ID}
			if h.CommitRequested {
				status, lineStatus = StatusCommitted, LineCommitted
				c = change{partition, sku, "sale", -units, 0, h.ID}
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
	ids := make([]any, len(reqs))
	for i, r := range reqs {
		ids[i] = r.Header.ID
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
