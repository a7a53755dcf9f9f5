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

const insertChangePrefix = "INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, actor, request_id, created_at) VALUES "

// Sizes of the actor columns (ASCII).
const (
	maxActorID   = 64
	maxRequestID = 128
)

// insertChanges writes the change rows of a mutation, each recording the actor of ctx
// (inventory.ActorFrom), and runs the afterChanges hook.
func insertChanges(ctx context.Context, tx *sql.Tx, cs ...change) error {
	return insertChangesBy(ctx, tx, nil, cs)
}

// insertChangesBy is insertChanges where row i records actors[i] (a coalesced batch serves
// requests of several actors in one transaction); nil actors means ctx's actor for every row.
// Rows the hook derives record ctx's actor.
func insertChangesBy(ctx context.Context, tx *sql.Tx, actors []inventory.Actor, cs []change) error {
	if len(cs) == 0 {
		return nil
	}
	if err := writeChangeRows(ctx, tx, actors, cs); err != nil {
		return err
	}
	return afterChanges(ctx, tx, cs)
}

// insertChangeRows writes change rows without the afterChanges hook: for rows derived inside
// the hook itself (lot_take, lot_conflict, alert rows), which carry no stock delta.
func insertChangeRows(ctx context.Context, tx *sql.Tx, cs ...change) error {
	return writeChangeRows(ctx, tx, nil, cs)
}

// writeChangeRows is the one INSERT of new change rows.
func writeChangeRows(ctx context.Context, tx *sql.Tx, actors []inventory.Actor, cs []change) error {
	if len(cs) == 0 {
		return nil
	}
	by := inventory.ActorFrom(ctx)
	args := make([]any, 0, len(cs)*8)
	for i, c := range cs {
		if actors != nil {
			by = actors[i]
		}
		args = append(args, c.partition, c.sku, c.kind, c.deltaOnHand, c.deltaReserved, c.ref,
			clip(by.ID, maxActorID), clip(by.RequestID, maxRequestID))
	}
	_, err := tx.ExecContext(ctx, multiRowInsert(insertChangePrefix, "(?,?,?,?,?,?,?,?,UTC_TIMESTAMP(6))", len(cs), ""), args...)
	return err
}

// clip cuts s to at most n bytes (the gateway sends ids that fit; this keeps any other caller
// from failing a stock change over a long label).
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
	// Actor is the API key id or worker name that caused the row, RequestID the request's
	// X-Request-Id; both empty on rows written before they were recorded.
	Actor     string
	RequestID string
}

// Equal reports whether two rows hold the same values.
func (c ChangeRow) Equal(o ChangeRow) bool {
	return c.Seq == o.Seq && c.PartitionID == o.PartitionID && c.SKU == o.SKU && c.Kind == o.Kind &&
		c.DeltaOnHand == o.DeltaOnHand && c.DeltaReserved == o.DeltaReserved && c.Ref == o.Ref &&
		c.CreatedAt.Equal(o.CreatedAt) && eqPtr(c.OriginShard, o.OriginShard) && eqPtr(c.OriginSeq, o.OriginSeq) &&
		c.Actor == o.Actor && c.RequestID == o.RequestID
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
			&originShard, &originSeq, &c.Actor, &c.RequestID); err != nil {
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
