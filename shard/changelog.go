package shard

import (
	"context"
	"database/sql"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// The change log (changes): append-only, written in the same transaction as every mutation of a
// partitioned row. It is the audit ledger, the source of a reshard's catch-up, the outbox of the
// events and what the archive moves to files.

// change is one row of the change log.
type change struct {
	partition     int
	sku           string
	kind          inventory.ChangeKind
	deltaOnHand   int64
	deltaReserved int64
	ref           string
}

const insertChangePrefix = "INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at) VALUES "

// insertChanges writes the change rows of a mutation and runs the afterChanges hook.
func insertChanges(ctx context.Context, tx *sql.Tx, cs ...change) error {
	if len(cs) == 0 {
		return nil
	}
	if err := insertChangeRows(ctx, tx, cs...); err != nil {
		return err
	}
	return afterChanges(ctx, tx, cs)
}

// insertChangeRows writes change rows without the afterChanges hook: for rows derived inside
// the hook itself (lot_take, lot_conflict, alert rows), which carry no stock delta.
func insertChangeRows(ctx context.Context, tx *sql.Tx, cs ...change) error {
	if len(cs) == 0 {
		return nil
	}
	args := make([]any, 0, len(cs)*6)
	for _, c := range cs {
		args = append(args, c.partition, c.sku, c.kind, c.deltaOnHand, c.deltaReserved, c.ref)
	}
	_, err := tx.ExecContext(ctx, multiRowInsert(insertChangePrefix, "(?,?,?,?,?,?,UTC_TIMESTAMP(6))", len(cs), ""), args...)
	return err
}

// ChangeRow is a change-log row as stored, every column. A row copied from another shard by a
// reshard keeps its origin (the shard and seq it was first written with); a row written here has
// none (nil).
type ChangeRow struct {
	Seq           uint64
	PartitionID   int
	SKU           string
	Kind          inventory.ChangeKind
	DeltaOnHand   int64
	DeltaReserved int64
	Ref           string
	CreatedAt     time.Time // UTC
	OriginShard   *string
	OriginSeq     *uint64
}

// Equal reports whether two rows hold the same values.
func (c ChangeRow) Equal(o ChangeRow) bool {
	return c.Seq == o.Seq && c.PartitionID == o.PartitionID && c.SKU == o.SKU && c.Kind == o.Kind &&
		c.DeltaOnHand == o.DeltaOnHand && c.DeltaReserved == o.DeltaReserved && c.Ref == o.Ref &&
		c.CreatedAt.Equal(o.CreatedAt) && eqPtr(c.OriginShard, o.OriginShard) && eqPtr(c.OriginSeq, o.OriginSeq)
}

func eqPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// readChanges runs a query selecting changeColumns on q (the pool or a transaction) and returns
// the rows; errors are classified.
func (s *Store) readChanges(ctx context.Context, q querier, query string, args ...any) ([]ChangeRow, error) {
	var out []ChangeRow
	err := s.scanRows(ctx, q, query, args, func(rows *sql.Rows) error {
		var c ChangeRow
		var originShard sql.NullString
		var originSeq sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.PartitionID, &c.SKU, &c.Kind, &c.DeltaOnHand, &c.DeltaReserved, &c.Ref, &c.CreatedAt,
			&originShard, &originSeq); err != nil {
			return err
		}
		c.CreatedAt = c.CreatedAt.UTC()
		if originShard.Valid {
			c.OriginShard = &originShard.String
		}
		if originSeq.Valid {
			v := uint64(originSeq.Int64)
			c.OriginSeq = &v
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
