package shard

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// What ledger retention (migrate's Archive) reads and deletes: old change rows, their sums into
// ledger_base, and the metadata store's archive lock.

// LogHorizon returns the shard's clock and the highest seq of its change log, read together.
func (lg *Ledger) LogHorizon(ctx context.Context) (now time.Time, newest uint64, err error) {
	err = lg.s.db.QueryRowContext(ctx, "SELECT UTC_TIMESTAMP(6), (SELECT COALESCE(MAX(seq), 0) FROM changes)").Scan(&now, &newest)
	return now, newest, lg.s.classify(err)
}

// OwnedPartitions returns the partitions whose fence is owned on this shard, in order.
func (m *Mover) OwnedPartitions(ctx context.Context) ([]int, error) {
	out := []int{}
	err := m.s.scanRows(ctx, m.s.db, "SELECT partition_id FROM partition_fence WHERE state = ? ORDER BY partition_id", []any{inventory.FenceOwned},
		func(rows *sql.Rows) error {
			var p int
			err := rows.Scan(&p)
			out = append(out, p)
			return err
		})
	return out, err
}

// ArchiveRange is the change rows an archive may take from a shard: created before Cutoff, seq
// below SeqBelow, in one of Partitions.
type ArchiveRange struct {
	Partitions []int
	Cutoff     time.Time
	SeqBelow   uint64
}

// ChangeSums are the count, delta sums and seq range (0 when empty) of some change rows.
type ChangeSums struct {
	Rows                   int64
	SumOnHand, SumReserved int64
	FromSeq, ToSeq         uint64
}

// ArchivableSums sums the change rows of the range with from <= seq <= to.
func (lg *Ledger) ArchivableSums(ctx context.Context, r ArchiveRange, from, to uint64) (ChangeSums, error) {
	args := []any{from, to, r.SeqBelow, r.Cutoff}
	for _, p := range r.Partitions {
		args = append(args, p)
	}
	var sums ChangeSums
	var first, last sql.NullInt64
	err := lg.s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(delta_on_hand), 0), COALESCE(SUM(delta_reserved), 0), MIN(seq), MAX(seq)
		FROM changes WHERE seq >= ? AND seq <= ? AND seq < ? AND created_at < ? AND partition_id IN (`+placeholders(len(r.Partitions))+")", args...).
		Scan(&sums.Rows, &sums.SumOnHand, &sums.SumReserved, &first, &last)
	sums.FromSeq, sums.ToSeq = uint64(first.Int64), uint64(last.Int64)
	return sums, lg.s.classify(err)
}

// ChangesBefore returns up to limit change rows with after < seq < below created before cutoff,
// of every partition, in seq order.
func (lg *Ledger) ChangesBefore(ctx context.Context, after, below uint64, cutoff time.Time, limit int) ([]ChangeRow, error) {
	return lg.s.readChanges(ctx, lg.s.db, `SELECT `+changeColumns+` FROM changes
		WHERE seq > ? AND seq < ? AND created_at < ? ORDER BY seq LIMIT ?`, after, below, cutoff, limit)
}

// DeleteArchived deletes archived change rows and adds their per-SKU delta sums to ledger_base,
// in one transaction (retried on deadlocks), so that on_hand = ledger_base + SUM(changes) holds
// at every commit. The transaction takes the rows' partition fences in share mode, like every
// write, and requires them owned; then it calls guard (the caller's check that no resharding
// job is active: a job's copy takes the fences exclusively first, so it waits for this
// transaction or guard sees it); then it requires every row to be in the log exactly as given.
// guard's error and the failures of these checks are returned as they are.
func (lg *Ledger) DeleteArchived(ctx context.Context, rows []ChangeRow, guard func(context.Context) error) error {
	var partitions []int
	seqs := make([]any, len(rows))
	seen := map[int]bool{}
	for i, c := range rows {
		seqs[i] = c.Seq
		if !seen[c.PartitionID] {
			seen[c.PartitionID] = true
			partitions = append(partitions, c.PartitionID)
		}
	}
	return lg.s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partitions...); inventory.IsCode(err, inventory.CodePartitionMoved) {
			return keep(errors.New("a partition of these rows is no longer owned by the shard"))
		} else if err != nil {
			return err
		}
		if err := guard(ctx); err != nil {
			return keep(err)
		}
		inDB, err := lg.s.readChanges(ctx, tx, "SELECT "+changeColumns+" FROM changes WHERE seq IN ("+placeholders(len(seqs))+") FOR UPDATE", seqs...)
		if err != nil {
			return err
		}
		bases, err := ledgerSums(rows, inDB)
		if err != nil {
			return keep(err)
		}
		if err := addLedgerBase(ctx, tx, bases); err != nil {
			return err
		}
		args := append(seqs, intsToAny(partitions)...)
		res, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE seq IN ("+placeholders(len(seqs))+") AND partition_id IN ("+
			placeholders(len(partitions))+")", args...)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != int64(len(rows)) {
			return keep(fmt.Errorf("deleted %d rows of %d (%v)", n, len(rows), err))
		}
		return nil
	})
}

// ledgerBase is what one SKU's archived rows add to its ledger_base row.
type ledgerBase struct {
	sku             string
	partition       int
	onHand, reserve int64
	rows            int64
}

// ledgerSums checks that every row to delete is in the log (inDB) exactly as given and returns
// the per-SKU sums of their deltas, by SKU (a stable lock order).
func ledgerSums(rows, inDB []ChangeRow) ([]*ledgerBase, error) {
	bySeq := make(map[uint64]ChangeRow, len(inDB))
	for _, c := range inDB {
		bySeq[c.Seq] = c
	}
	bases := map[string]*ledgerBase{}
	for _, c := range rows {
		d, ok := bySeq[c.Seq]
		if !ok {
			return nil, fmt.Errorf("row seq %d is no longer in the change log", c.Seq)
		}
		if !d.Equal(c) {
			return nil, fmt.Errorf("row seq %d differs from its archived copy", c.Seq)
		}
		if c.SKU == "" {
			if c.DeltaOnHand != 0 || c.DeltaReserved != 0 {
				return nil, fmt.Errorf("row seq %d has deltas but no SKU", c.Seq)
			}
			continue
		}
		b := bases[c.SKU]
		if b == nil {
			b = &ledgerBase{sku: c.SKU, partition: c.PartitionID}
			bases[c.SKU] = b
		}
		b.onHand += c.DeltaOnHand // bounded: a product's stock stays below 10^15 base units
		b.reserve += c.DeltaReserved
		b.rows++
	}
	out := make([]*ledgerBase, 0, len(bases))
	for _, b := range bases {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].sku < out[j].sku })
	return out, nil
}

// addLedgerBase adds the sums to the SKUs' ledger_base rows (creating missing ones).
func addLedgerBase(ctx context.Context, tx *sql.Tx, bases []*ledgerBase) error {
	if len(bases) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(bases))
	for _, b := range bases {
		args = append(args, b.sku, b.partition, b.onHand, b.reserve, b.rows)
	}
	_, err := tx.ExecContext(ctx, multiRowInsert("INSERT INTO ledger_base (sku, partition_id, on_hand, reserved, rows_archived, updated_at) VALUES ",
		"(?,?,?,?,?,UTC_TIMESTAMP(6))", len(bases), ` ON DUPLICATE KEY UPDATE on_hand = on_hand + VALUES(on_hand), reserved = reserved + VALUES(reserved),
			rows_archived = rows_archived + VALUES(rows_archived), updated_at = VALUES(updated_at)`), args...)
	return err
}

func intsToAny(in []int) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}

// TryArchiveLock takes the metadata store's archive lock (a named lock on a dedicated
// connection, so one archive runs at a time per metadata store). ok is false when another run
// holds it; otherwise release gives it back.
func (m *Meta) TryArchiveLock(ctx context.Context) (release func(), ok bool, err error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, false, metaErr(err)
	}
	discard := func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never back to the pool with the lock
		_ = conn.Close()
	}
	var dbName sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		discard()
		return nil, false, metaErr(err)
	}
	sum := sha1.Sum([]byte(dbName.String))
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", "shardstock_archive:"+hex.EncodeToString(sum[:])).Scan(&got); err != nil {
		discard()
		return nil, false, metaErr(err)
	}
	if !got.Valid || got.Int64 != 1 {
		discard()
		return nil, false, nil
	}
	return discard, true, nil
}
