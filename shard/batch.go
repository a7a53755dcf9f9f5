package shard

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
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
	// Actor is who asked (the batch's transaction runs on no request's context); its change
	// rows record it.
	Actor inventory.Actor
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
// (fence moved, shard unavailable) means nothing was applied for anyone. Each request's change
// rows record its own Actor; rows derived from the batch as a whole (alerts) record ctx's actor,
// or the first request's when ctx has none.
func (s *Store) CreateLocalBatch(ctx context.Context, sku string, partition int, reqs []BatchRequest) ([]BatchResult, error) {
	out := make([]BatchResult, len(reqs))
	if len(reqs) > 0 {
		ctx = batchActor(ctx, reqs[0].Actor)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		clear(out) // a retried transaction starts over
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		p, err := lockBatchProduct(ctx, tx, sku)
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
		b, err := p.serve(partition, reqs, existing, out)
		if err != nil || b.count == 0 {
			return err
		}
		return b.apply(ctx, tx, sku)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// batchProduct is the locked product row of a reservation batch, with the shard's clock.
type batchProduct struct {
	sku              string
	scale            int
	onHand, reserved int64
	now              time.Time
}

func lockBatchProduct(ctx context.Context, tx *sql.Tx, sku string) (batchProduct, error) {
	p := batchProduct{sku: sku}
	err := tx.QueryRowContext(ctx, "SELECT scale, on_hand, reserved, UTC_TIMESTAMP(6) FROM products WHERE sku = ? FOR UPDATE", sku).
		Scan(&p.scale, &p.onHand, &p.reserved, &p.now)
	return p, err
}

// reserveBatch is what a batch of reservations writes: the stock it takes, its header and line
// rows, its change rows.
type reserveBatch struct {
	count                int // reservations served
	addReserved, addSold int64
	headerArgs, lineArgs []any
	changes              []change
	actors               []inventory.Actor // of each change row
}

// serve serves the requests greedily in arrival order, writing each one's answer to out, and
// returns the rows to write for those served.
func (p batchProduct) serve(partition int, reqs []BatchRequest, existing map[string]bool, out []BatchResult) (reserveBatch, error) {
	var b reserveBatch
	available := p.onHand - p.reserved
	seen := map[string]bool{}
	for i, r := range reqs {
		h := r.Header
		if existing[h.ID] || seen[h.ID] {
			out[i].Err = inventory.Errorf(inventory.CodeAlreadyApplied, "reservation %s already exists", h.ID)
			continue
		}
		units, err := h.Lines[0].Quantity.BaseUnits(p.scale)
		if err == nil && units <= 0 {
			err = inventory.Errorf(inventory.CodeValidation, "quantity must be positive")
		}
		if err != nil {
			out[i].Err = err
			continue
		}
		if available < units {
			out[i].Err = inventory.Insufficient(inventory.NewShortLine(p.sku, units, available, p.scale))
			continue
		}
		available -= units
		seen[h.ID] = true
		if out[i].Header, err = b.add(p, partition, r, units); err != nil {
			return b, err
		}
	}
	return b, nil
}

// add adds one served reservation of units to the batch and returns its header as written.
func (b *reserveBatch) add(p batchProduct, partition int, r BatchRequest, units int64) (Header, error) {
	h := r.Header
	status, lineStatus := inventory.StatusHeld, inventory.LineHeld
	c := change{partition, p.sku, inventory.KindReserve, 0, units, h.ID}
	if h.CommitRequested {
		status, lineStatus = inventory.StatusCommitted, inventory.LineCommitted
		c = change{partition, p.sku, inventory.KindSale, -units, 0, h.ID}
		b.addSold += units
	} else {
		b.addReserved += units
	}
	lines, err := json.Marshal(h.Lines)
	if err != nil {
		return h, err
	}
	now := p.now
	h.Status, h.CreatedAt, h.UpdatedAt, h.ExpiresAt = status, now, now, now.Add(r.TTL)
	b.headerArgs = append(b.headerArgs, h.ID, h.Partition, h.OrderID, h.Status, string(lines), h.CommitRequested, h.ExpiresAt, now, now)
	b.lineArgs = append(b.lineArgs, h.ID, p.sku, partition, units, lineStatus, now, now)
	b.changes = append(b.changes, c, headerChange(h.Partition, h.ID, status))
	b.actors = append(b.actors, r.Actor, r.Actor)
	b.count++
	return h, nil
}

// apply writes the batch: one conditional UPDATE of the product, the headers, the lines and the
// change rows.
func (b reserveBatch) apply(ctx context.Context, tx *sql.Tx, sku string) error {
	res, err := tx.ExecContext(ctx, `UPDATE products SET reserved = reserved + ?, on_hand = on_hand - ?, version = version + ?,
		updated_at = UTC_TIMESTAMP(6) WHERE sku = ? AND on_hand - reserved >= ?`,
		b.addReserved, b.addSold, b.count, sku, b.addReserved+b.addSold)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("batch reserve: conditional update matched no row under lock")
	}
	if _, err := tx.ExecContext(ctx, multiRowInsert(`INSERT INTO reservations (id, partition_id, order_id, status, lines_json, commit_requested,
			expires_at, created_at, updated_at) VALUES `, "(?,?,?,?,?,?,?,?,?)", b.count, ""), b.headerArgs...); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, multiRowInsert(`INSERT INTO reservation_lines (reservation_id, sku, partition_id, quantity, status,
			created_at, updated_at) VALUES `, "(?,?,?,?,?,?,?)", b.count, ""), b.lineArgs...); err != nil {
		return err
	}
	return insertChangesBy(ctx, tx, b.actors, b.changes)
}

// batchActor returns ctx with first as its actor unless ctx has one: the actor of the rows a
// coalesced batch derives as a whole.
func batchActor(ctx context.Context, first inventory.Actor) context.Context {
	if inventory.ActorFrom(ctx) != (inventory.Actor{}) {
		return ctx
	}
	return inventory.WithActor(ctx, first)
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
	Actor         inventory.Actor
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
// Actors as in CreateLocalBatch.
func (s *Store) SettleLocalBatch(ctx context.Context, partition int, reqs []SettleRequest) ([]SettleResult, error) {
	out := make([]SettleResult, len(reqs))
	if len(reqs) > 0 {
		ctx = batchActor(ctx, reqs[0].Actor)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		clear(out) // a retried transaction starts over
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		ids := make([]any, len(reqs))
		for i, r := range reqs {
			ids[i] = r.ID
		}
		headers, expired, err := lockSettleHeaders(ctx, tx, ids)
		if err != nil {
			return err
		}
		held, err := heldLines(ctx, tx, ids)
		if err != nil {
			return err
		}
		b := settleBatch{partition: partition, perSKU: map[string]*skuDelta{}}
		for i, r := range reqs {
			if out[i], err = b.settle(r, headers, expired[r.ID], held[r.ID]); err != nil {
				return err
			}
		}
		if len(b.committed)+len(b.released) == 0 {
			return nil
		}
		return b.apply(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// lockSettleHeaders locks the headers and returns them by id, with whether each is expired.
func lockSettleHeaders(ctx context.Context, tx *sql.Tx, ids []any) (map[string]Header, map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+headerColumns+", UTC_TIMESTAMP(6) >= expires_at FROM reservations WHERE id IN ("+
		placeholders(len(ids))+") ORDER BY id FOR UPDATE", ids...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	headers := map[string]Header{}
	expired := map[string]bool{}
	for rows.Next() {
		var exp bool
		h, err := scanHeader(scanWithExtra{rows, &exp})
		if err != nil {
			return nil, nil, err
		}
		headers[h.ID], expired[h.ID] = h, exp
	}
	return headers, expired, rows.Err()
}

// skuDelta sums what a settle batch changes on one product.
type skuDelta struct{ onHand, reserved, changes int64 }

// settleBatch is what a batch of settles writes.
type settleBatch struct {
	partition           int
	perSKU              map[string]*skuDelta
	committed, released []any // reservation ids
	changes             []change
	actors              []inventory.Actor // of each change row
}

// settle decides one request against the locked headers (updated in place, so that a later
// request for the same id sees the new status) and adds what it settles to the batch.
func (b *settleBatch) settle(r SettleRequest, headers map[string]Header, expired bool, held []ReservationLine) (SettleResult, error) {
	h, ok := headers[r.ID]
	if !ok {
		return SettleResult{Err: inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", r.ID)}, nil
	}
	local := h.Partition == b.partition
	for _, l := range h.Lines {
		local = local && l.Partition == b.partition
	}
	switch {
	case !local:
		return SettleResult{NotLocal: true}, nil
	case h.Status != inventory.StatusHeld || (r.UnexpiredOnly && expired):
		return SettleResult{Header: h}, nil // not held (or settled earlier in this batch): the caller judges
	}
	if len(held) != len(h.Lines) {
		return SettleResult{}, fmt.Errorf("settle %s: %d of %d lines held under a held header", r.ID, len(held), len(h.Lines))
	}
	h.Status = finalStatus(r.Action)
	headers[r.ID] = h
	for _, l := range held {
		d := b.perSKU[l.SKU]
		if d == nil {
			d = &skuDelta{}
			b.perSKU[l.SKU] = d
		}
		d.reserved -= l.Quantity
		d.changes++ // every settled reservation is one change of the product's version
		if r.Action == ActionCommit {
			d.onHand -= l.Quantity
			b.changes = append(b.changes, change{b.partition, l.SKU, inventory.KindCommit, -l.Quantity, -l.Quantity, r.ID})
		} else {
			b.changes = append(b.changes, change{b.partition, l.SKU, inventory.KindRelease, 0, -l.Quantity, r.ID})
		}
		b.actors = append(b.actors, r.Actor)
	}
	if r.Action == ActionCommit {
		b.committed = append(b.committed, r.ID)
	} else {
		b.released = append(b.released, r.ID)
	}
	b.changes = append(b.changes, headerChange(h.Partition, r.ID, h.Status))
	b.actors = append(b.actors, r.Actor)
	return SettleResult{Header: h, Moved: true}, nil
}

// apply writes the batch: one conditional UPDATE per product (in SKU order), the headers and
// lines of each final status, the change rows.
func (b settleBatch) apply(ctx context.Context, tx *sql.Tx) error {
	skus := make([]string, 0, len(b.perSKU))
	for sku := range b.perSKU {
		skus = append(skus, sku)
	}
	sort.Strings(skus)
	for _, sku := range skus {
		d := b.perSKU[sku]
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
	}{{b.committed, inventory.StatusCommitted, inventory.LineCommitted}, {b.released, inventory.StatusReleased, inventory.LineReleased}} {
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
	return insertChangesBy(ctx, tx, b.actors, b.changes)
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
