package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/shardstock/shardstock/inventory"
)

// The mover's primitives: what migrate's resharding steps do to one partition on a source and a
// target shard. Every write to a target is an upsert of a row image or an origin-keyed insert of
// a change row, so any step can be repeated after a crash.

// Table names a partitioned table whose rows the mover copies by row image.
type Table string

// The tables copied by row image (the change log is copied by CopyChanges).
const (
	TableProducts         Table = "products"
	TableReservations     Table = "reservations"
	TableReservationLines Table = "reservation_lines"
	TableIdempotencyKeys  Table = "idempotency_keys"
	TableAppliedRequests  Table = "applied_requests"
	TableLots             Table = "lots"
	TableStockAlerts      Table = "stock_alerts"
	TableLedgerBase       Table = "ledger_base"
)

// rowTable is a partitioned table copied by row image: its copied columns, key columns first.
// Generated columns are never copied (the target computes them); TestCopiedColumnsMatchSchema
// checks every list against the migrated schema.
type rowTable struct {
	name    Table
	columns []string
	keys    int // the leading columns that form the primary key
}

// rowTables lists the tables copied by row image, in copy order.
var rowTables = []rowTable{
	{TableProducts, []string{"sku", "partition_id", "name", "category", "scale", "on_hand", "reserved", "low_stock_threshold", "version", "created_at", "updated_at", "low_alert_id", "out_alert_id"}, 1},
	{TableReservations, []string{"id", "partition_id", "order_id", "status", "lines_json", "commit_requested", "expires_at", "created_at", "updated_at"}, 1},
	{TableReservationLines, []string{"reservation_id", "sku", "partition_id", "quantity", "status", "created_at", "updated_at"}, 2},
	{TableIdempotencyKeys, []string{"key_hash", "partition_id", "request_hash", "state", "response_status", "response_body", "locked_until", "expires_at", "created_at"}, 1},
	{TableAppliedRequests, []string{"key_hash", "partition_id", "expires_at"}, 1},
	// Lots of lot-tracked products (the generated live_expires_at is not copied).
	{TableLots, []string{"sku", "lot_code", "partition_id", "expires_at", "received", "remaining", "conflict_at", "received_at", "updated_at"}, 2},
	// Low-stock alerts (the generated open_flag is not copied).
	{TableStockAlerts, []string{"id", "partition_id", "sku", "kind", "status", "scale", "available_at_open", "threshold", "opened_at", "acknowledged_at", "resolved_at", "updated_at"}, 1},
	// Sums of archived change rows (archive.go). Copied once with the partition and not in
	// catch-up: the archive refuses to run while a job is active (checked in each of its delete
	// transactions under the partition fence), so these rows cannot change during a move; were
	// they to, the cutover checksum (which covers this table and the change log) would stop the
	// cutover.
	{TableLedgerBase, []string{"sku", "partition_id", "on_hand", "reserved", "rows_archived", "updated_at"}, 1},
}

func tableByName(name Table) rowTable {
	for _, t := range rowTables {
		if t.name == name {
			return t
		}
	}
	panic("shard: unknown table " + string(name))
}

// CopyTables returns the tables a partition's copy moves by row image, in copy order.
func CopyTables() []Table {
	out := make([]Table, len(rowTables))
	for i, t := range rowTables {
		out[i] = t.name
	}
	return out
}

// UnloggedTables returns the copied tables whose writes log no change row (idempotency keys and
// applied-request markers), which catch-up therefore cannot follow: a cutover copies them again
// in full under the fence.
func UnloggedTables() []Table { return []Table{TableIdempotencyKeys, TableAppliedRequests} }

// partitionTables lists every table that holds rows of a partition (for purges).
var partitionTables = []string{"products", "reservations", "reservation_lines", "idempotency_keys", "applied_requests", "lots", "stock_alerts", "ledger_base", "changes"}

// changeColumns are every column of the change log, in ChangeRow order.
const changeColumns = "seq, partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq, actor, request_id"

const partitionMaxSeq = "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE partition_id = ?"

// SyncPoint returns the partition's highest change seq at a moment when no write transaction on
// the partition is in flight: it takes the fence row exclusively (every writer holds it in share
// mode for its whole transaction), so every change row up to the returned seq is committed.
// AUTO_INCREMENT order is not commit order; this is what makes catch-up exact.
func (m *Mover) SyncPoint(ctx context.Context, partition int) (uint64, error) {
	var seq uint64
	err := m.s.inTx(ctx, func(tx *sql.Tx) error {
		var st string
		err := tx.QueryRowContext(ctx, "SELECT state FROM partition_fence WHERE partition_id = ? FOR UPDATE", partition).Scan(&st)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.QueryRowContext(ctx, partitionMaxSeq, partition).Scan(&seq)
	})
	return seq, err
}

// NewestChange returns the partition's highest change seq (0: none), without any lock: a cheap
// look whether a catch-up has anything to do.
func (m *Mover) NewestChange(ctx context.Context, partition int) (uint64, error) {
	var seq uint64
	err := m.s.db.QueryRowContext(ctx, partitionMaxSeq, partition).Scan(&seq)
	return seq, m.s.classify(err)
}

// Cursor is where a chunked copy of one table stopped: the key of the last row copied. The zero
// Cursor is the start of the table.
type Cursor struct{ key []any }

// CopyChunk copies from s to dst up to limit rows of table t in the partition, the next ones in
// key order after the cursor, as upserts of their row images. It returns how many rows it copied
// and the cursor after them; fewer than limit rows means the table is done.
func (m *Mover) CopyChunk(ctx context.Context, dst *Store, t Table, partition int, after Cursor, limit int) (int, Cursor, error) {
	rt := tableByName(t)
	cols := rt.columns
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + string(rt.name) + " WHERE partition_id = ?"
	args := []any{partition}
	switch {
	case after.key == nil:
	case rt.keys == 1:
		q += " AND " + cols[0] + " > ?"
		args = append(args, after.key[0])
	default:
		q += fmt.Sprintf(" AND (%[1]s > ? OR (%[1]s = ? AND %[2]s > ?))", cols[0], cols[1])
		args = append(args, after.key[0], after.key[0], after.key[1])
	}
	q += " ORDER BY " + strings.Join(cols[:rt.keys], ", ") + fmt.Sprintf(" LIMIT %d", limit)
	rows, err := m.readRows(ctx, len(cols), q, args...)
	if err != nil {
		return 0, after, fmt.Errorf("read %s: %w", t, err)
	}
	if len(rows) == 0 {
		return 0, after, nil
	}
	if err := dst.mover.upsertRows(ctx, rt, rows); err != nil {
		return 0, after, fmt.Errorf("write %s: %w", t, err)
	}
	return len(rows), Cursor{rows[len(rows)-1][:rt.keys]}, nil
}

// Touched collects the rows that change rows refer to, for a catch-up to copy their current
// images (CopyChanges fills it, CopyTouched copies them): the SKUs (products, lots, alerts), the
// reservations of line changes and the reservations of header changes. The zero value is empty.
type Touched struct {
	skus, lines, headers map[string]bool
}

func (t *Touched) add(sku string, kind inventory.ChangeKind, ref string) {
	if t.skus == nil {
		t.skus, t.lines, t.headers = map[string]bool{}, map[string]bool{}, map[string]bool{}
	}
	if sku != "" {
		t.skus[sku] = true
	}
	if _, header := kind.HeaderStatus(); header {
		t.headers[ref] = true
	} else if ref != "" && sku != "" {
		t.lines[ref] = true
	}
}

// CopyChanges copies from s to dst up to limit change rows of the partition with from < seq <=
// to, in seq order, keeping each row's origin (a row written here gets origin (s, seq)), so that
// copying a row again inserts nothing. It adds what the rows name to touched (when not nil) and
// returns how many rows it copied and the seq of the last one; fewer than limit rows means the
// range is done.
func (m *Mover) CopyChanges(ctx context.Context, dst *Store, partition int, from, to uint64, limit int, touched *Touched) (int, uint64, error) {
	rows, err := m.s.readChanges(ctx, m.s.db, "SELECT "+changeColumns+" FROM changes WHERE partition_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
		partition, from, to, limit)
	if err != nil {
		return 0, from, fmt.Errorf("read changes: %w", err)
	}
	if len(rows) == 0 {
		return 0, from, nil
	}
	args := make([]any, 0, 11*len(rows))
	for _, r := range rows {
		originShard, originSeq := any(m.s.name), any(r.Seq)
		if r.OriginShard != nil {
			originShard, originSeq = *r.OriginShard, nullUint(r.OriginSeq)
		}
		args = append(args, r.PartitionID, r.SKU, r.Kind, r.DeltaOnHand, r.DeltaReserved, r.Ref, r.CreatedAt, originShard, originSeq,
			r.Actor, r.RequestID)
	}
	q := multiRowInsert("INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq, actor, request_id) VALUES ",
		"(?,?,?,?,?,?,?,?,?,?,?)", len(rows), " ON DUPLICATE KEY UPDATE origin_seq = origin_seq")
	if _, err := dst.db.ExecContext(ctx, q, args...); err != nil {
		return 0, from, fmt.Errorf("write changes: %w", dst.classify(err))
	}
	if touched != nil {
		for _, r := range rows {
			touched.add(r.SKU, r.Kind, r.Ref)
		}
	}
	return len(rows), rows[len(rows)-1].Seq, nil
}

func nullUint(p *uint64) any {
	if p == nil {
		return nil
	}
	return *p
}

// CopyTouched copies from s to dst the current image of every row that t names, limit keys per
// statement: the products, lots and alerts of its SKUs (every lot and alert write logs a change
// row naming the SKU), the lines of its line references and the headers of its header
// references. Row images are upserts, so a replay is harmless.
func (m *Mover) CopyTouched(ctx context.Context, dst *Store, partition int, t Touched, limit int) error {
	skus := keys(t.skus)
	for _, c := range []struct {
		table  Table
		column string
		keys   []any
	}{
		{TableProducts, "sku", skus},
		{TableLots, "sku", skus},
		{TableStockAlerts, "sku", skus},
		{TableReservationLines, "reservation_id", keys(t.lines)},
		{TableReservations, "id", keys(t.headers)},
	} {
		if err := m.copyRowsWhere(ctx, dst, tableByName(c.table), partition, c.column, c.keys, limit); err != nil {
			return err
		}
	}
	return nil
}

// copyRowsWhere re-copies the rows of one table of the partition selected by a key list. Alerts
// come resolved ones first: stock_alerts allows one active alert per SKU and kind (a unique
// key), so a target still holding an alert as active that the source has since resolved and
// replaced must see the resolution before the new one.
func (m *Mover) copyRowsWhere(ctx context.Context, dst *Store, t rowTable, partition int, column string, values []any, limit int) error {
	for start := 0; start < len(values); start += limit {
		part := values[start:min(start+limit, len(values))]
		q := "SELECT " + strings.Join(t.columns, ", ") + " FROM " + string(t.name) + " WHERE partition_id = ? AND " + column +
			" IN (" + placeholders(len(part)) + ")"
		if t.name == TableStockAlerts {
			q += " ORDER BY status <> 'resolved', id"
		}
		rows, err := m.readRows(ctx, len(t.columns), q, append([]any{partition}, part...)...)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		if err := dst.mover.upsertRows(ctx, t, rows); err != nil {
			return fmt.Errorf("write %s: %w", t.name, err)
		}
	}
	return nil
}

// PurgePartition deletes every row of the partition on this shard, chunk rows per statement,
// and returns how many it deleted.
func (m *Mover) PurgePartition(ctx context.Context, partition, chunk int) (int64, error) {
	var total int64
	for _, t := range partitionTables {
		for {
			res, err := m.s.db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE partition_id = ? LIMIT %d", t, chunk), partition)
			if err != nil {
				return total, fmt.Errorf("purge %s: %w", t, m.s.classify(err))
			}
			n, _ := res.RowsAffected()
			total += n
			if n < int64(chunk) {
				break
			}
		}
	}
	return total, nil
}

// PartitionsWithRows returns which of the partitions hold any row on this shard (leftovers of
// an earlier era, to clear before an import).
func (m *Mover) PartitionsWithRows(ctx context.Context, partitions []int) (map[int]bool, error) {
	out := map[int]bool{}
	for start := 0; start < len(partitions); start += 1000 {
		part := partitions[start:min(start+1000, len(partitions))]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p
		}
		for _, t := range partitionTables {
			err := m.s.scanRows(ctx, m.s.db, "SELECT DISTINCT partition_id FROM "+t+" WHERE partition_id IN ("+placeholders(len(part))+")", args,
				func(rows *sql.Rows) error {
					var p int
					err := rows.Scan(&p)
					out[p] = true
					return err
				})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// DropFence removes the partition's fence row unless it is owned (an abort undoes an import).
func (m *Mover) DropFence(ctx context.Context, partition int) error {
	_, err := m.s.db.ExecContext(ctx, "DELETE FROM partition_fence WHERE partition_id = ? AND state <> 'owned'", partition)
	return m.s.classify(err)
}

// ProductCounts returns the number of product rows of each partition that has any on this shard.
func (m *Mover) ProductCounts(ctx context.Context) (map[int]int64, error) {
	out := map[int]int64{}
	err := m.s.scanRows(ctx, m.s.db, "SELECT partition_id, COUNT(*) FROM products GROUP BY partition_id", nil, func(rows *sql.Rows) error {
		var p int
		var n int64
		err := rows.Scan(&p, &n)
		out[p] = n
		return err
	})
	return out, err
}

// readRows runs a query and returns every row as driver values (classified errors).
func (m *Mover) readRows(ctx context.Context, ncols int, q string, args ...any) ([][]any, error) {
	rows, err := m.s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, m.s.classify(err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, ncols)
		ptrs := make([]any, ncols)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, m.s.classify(err)
		}
		out = append(out, vals)
	}
	return out, m.s.classify(rows.Err())
}

// upsertRows writes row images of table t: one multi-row INSERT … ON DUPLICATE KEY UPDATE of
// every non-key column.
func (m *Mover) upsertRows(ctx context.Context, t rowTable, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	var update strings.Builder
	update.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range t.columns[t.keys:] {
		if i > 0 {
			update.WriteByte(',')
		}
		update.WriteString(c + " = VALUES(" + c + ")")
	}
	q := multiRowInsert("INSERT INTO "+string(t.name)+" ("+strings.Join(t.columns, ", ")+") VALUES ",
		"("+placeholders(len(t.columns))+")", len(rows), update.String())
	args := make([]any, 0, len(rows)*len(t.columns))
	for _, r := range rows {
		args = append(args, r...)
	}
	_, err := m.s.db.ExecContext(ctx, q, args...)
	return m.s.classify(err)
}

func keys(m map[string]bool) []any {
	out := make([]any, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
