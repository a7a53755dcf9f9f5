package shard

import (
	"context"
	"database/sql"
	"errors"
)

// A product's history: its change-log rows, newest first, each with the quantities it left the
// product at. The quantities are exact without summing the whole log: the newest row left the
// product at its current on_hand and reserved (ledger_base included, since on_hand = base +
// every delta), and each older row at the next newer row's figures minus that row's deltas. A
// page hands the running figures on to the next one in its HistoryPosition.

// HistoryPosition is where the next page of a product's history starts: right after (older
// than) the row the previous page ended with, named by the row's origin (where it was first
// written, which a reshard keeps), and the product's on_hand and reserved as that row found them.
type HistoryPosition struct {
	OriginShard string
	OriginSeq   uint64
	OnHand      int64
	Reserved    int64
}

// HistoryEntry is one change-log row of a product with the quantities it resulted in.
type HistoryEntry struct {
	ChangeRow
	// OriginShard and OriginSeq name the row wherever it lives (EventID of them is its id).
	OriginShard string
	OriginSeq   uint64
	// OnHandAfter and ReservedAfter are the product's quantities right after this row.
	OnHandAfter   int64
	ReservedAfter int64
}

// History is a page of a product's history.
type History struct {
	Product Product        // as of the page's snapshot (its scale formats the quantities)
	Entries []HistoryEntry // newest first
	Next    *HistoryPosition
}

// History reads up to limit change-log rows of the product, newest first, after from (nil: from
// the newest), with the product, in one consistent snapshot. Like every read it checks the fence
// (partition_moved) and the product (not_found). A position whose row is no longer in the log
// (archived) ends the history: the page is empty. Next is nil on the last page.
func (s *Store) History(ctx context.Context, sku string, partition int, from *HistoryPosition, limit int) (History, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
	if err != nil {
		return History{}, s.classify(err)
	}
	defer tx.Rollback()
	var h History
	if h.Product, err = s.ownedProduct(ctx, tx, sku, partition); err != nil {
		return History{}, err
	}
	onHand, reserved := h.Product.OnHand, h.Product.Reserved
	q, args := "SELECT "+changeColumns+" FROM changes WHERE sku = ? ORDER BY seq DESC LIMIT ?", []any{sku, limit + 1}
	if from != nil {
		seq, found, err := s.historySeq(ctx, tx, sku, *from)
		if err != nil || !found {
			return h, err
		}
		q, args = "SELECT "+changeColumns+" FROM changes WHERE sku = ? AND seq < ? ORDER BY seq DESC LIMIT ?", []any{sku, seq, limit + 1}
		onHand, reserved = from.OnHand, from.Reserved
	}
	rows, err := s.readChanges(ctx, tx, q, args...)
	if err != nil {
		return History{}, err
	}
	for _, c := range rows[:min(len(rows), limit)] {
		e := HistoryEntry{ChangeRow: c, OriginShard: s.name, OriginSeq: c.Seq, OnHandAfter: onHand, ReservedAfter: reserved}
		if c.OriginShard != nil && c.OriginSeq != nil {
			e.OriginShard, e.OriginSeq = *c.OriginShard, *c.OriginSeq
		}
		h.Entries = append(h.Entries, e)
		onHand -= c.DeltaOnHand
		reserved -= c.DeltaReserved
	}
	if len(rows) > limit {
		last := h.Entries[len(h.Entries)-1]
		h.Next = &HistoryPosition{OriginShard: last.OriginShard, OriginSeq: last.OriginSeq, OnHand: onHand, Reserved: reserved}
	}
	return h, nil
}

// historySeq finds the local seq of the product's row at pos: a row written here keeps its seq
// and has no origin; a copy has its origin.
func (s *Store) historySeq(ctx context.Context, tx *sql.Tx, sku string, pos HistoryPosition) (uint64, bool, error) {
	var seq uint64
	if pos.OriginShard == s.name {
		err := tx.QueryRowContext(ctx, "SELECT seq FROM changes WHERE seq = ? AND sku = ? AND origin_shard IS NULL", pos.OriginSeq, sku).Scan(&seq)
		if err == nil {
			return seq, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return 0, false, s.classify(err)
		}
	}
	err := tx.QueryRowContext(ctx, "SELECT seq FROM changes WHERE origin_shard = ? AND origin_seq = ? AND sku = ?", pos.OriginShard, pos.OriginSeq, sku).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, s.classify(err)
	}
	return seq, true, nil
}
