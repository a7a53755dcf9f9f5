package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"golang.org/x/time/rate"
)

// rowTable describes a partitioned table the mover copies by row image.
type rowTable struct {
	name    string
	columns []string // all copied columns, key columns first
	keys    int      // number of leading key columns
}

// The partitioned tables copied by row image (the change log is copied separately).
var rowTables = []rowTable{
	{"products", []string{"sku", "partition_id", "name", "category", "scale", "on_hand", "reserved", "low_stock_threshold", "version", "created_at", "updated_at", "low_alert_id", "out_alert_id"}, 1},
	{"reservations", []string{"id", "partition_id", "order_id", "status", "lines_json", "commit_requested", "expires_at", "created_at", "updated_at"}, 1},
	{"reservation_lines", []string{"reservation_id", "sku", "partition_id", "quantity", "status", "created_at", "updated_at"}, 2},
	{"idempotency_keys", []string{"key_hash", "partition_id", "request_hash", "state", "response_status", "response_body", "locked_until", "expires_at", "created_at"}, 1},
	{"applied_requests", []string{"key_hash", "partition_id", "expires_at"}, 1},
	// Lots of lot-tracked products (the generated live_expires_at is not copied).
	{"lots", []string{"sku", "lot_code", "partition_id", "expires_at", "received", "remaining", "conflict_at", "received_at", "updated_at"}, 2},
	// Low-stock alerts (the generated open_flag is not copied).
	{"stock_alerts", []string{"id", "partition_id", "sku", "kind", "status", "scale", "available_at_open", "threshold", "opened_at", "acknowledged_at", "resolved_at", "updated_at"}, 1},
	// Sums of archived change rows (migrate/archive.go). Copied once with the partition and not
	// in catch-up: the archive refuses to run while a job is active (checked in each of its
	// delete transactions under the partition fence), so these rows cannot change during a
	// move; were they to, the cutover checksum (which covers this table and the change log)
	// would stop the cutover.
	{"ledger_base", []string{"sku", "partition_id", "on_hand", "reserved", "rows_archived", "updated_at"}, 1},
}

func tableByName(name string) rowTable {
	for _, t := range rowTables {
		if t.name == name {
			return t
		}
	}
	panic("unknown table " + name)
}

// partitionTables lists every table that holds rows of a partition (for purges).
var partitionTables = []string{"products", "reservations", "reservation_lines", "idempotency_keys", "applied_requests", "lots", "stock_alerts", "ledger_base", "changes"}

const changeColumns = "seq, partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq"

// partitionMover copies one partition from a source shard to a target shard. Every write to the
// target is an upsert of a row image or an origin-keyed insert, so any step can be repeated.
type partitionMover struct {
	src, dst  *sql.DB
	srcName   string
	partition int
	chunk     int
	limiter   *rate.Limiter
	copied    func(n int) // progress callback
}

func (m *partitionMover) wait(ctx context.Context, n int) error {
	if m.copied != nil {
		m.copied(n)
	}
	if m.limiter == nil || n == 0 {
		return nil
	}
	return m.limiter.WaitN(ctx, min(n, m.limiter.Burst()))
}

// syncPoint returns the partition's highest change seq at a moment when no write transaction
// on the partition is in flight: it takes the fence row exclusively (every writer holds it in
// share mode for its whole transaction), so every change row up to the returned seq is
// committed. AUTO_INCREMENT order is not commit order; this is what makes catch-up exact.
func syncPoint(ctx context.Context, db *sql.DB, partition int) (uint64, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var st string
	if err := tx.QueryRowContext(ctx, "SELECT state FROM partition_fence WHERE partition_id = ? FOR UPDATE", partition).Scan(&st); err != nil && err != sql.ErrNoRows {
		return 0, err
	}
	var seq uint64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE partition_id = ?", partition).Scan(&seq); err != nil {
		return 0, err
	}
	return seq, tx.Commit()
}

// copyTable copies every row of the partition in key order, in chunks.
func (m *partitionMover) copyTable(ctx context.Context, t rowTable) (int64, error) {
	var total int64
	var after []any
	for {
		q := "SELECT " + strings.Join(t.columns, ", ") + " FROM " + t.name + " WHERE partition_id = ?"
		args := []any{m.partition}
		if after != nil {
			if t.keys == 1 {
				q += " AND " + t.columns[0] + " > ?"
				args = append(args, after[0])
			} else {
				q += fmt.Sprintf(" AND (%[1]s > ? OR (%[1]s = ? AND %[2]s > ?))", t.columns[0], t.columns[1])
				args = append(args, after[0], after[0], after[1])
			}
		}
		q += " ORDER BY " + strings.Join(t.columns[:t.keys], ", ") + fmt.Sprintf(" LIMIT %d", m.chunk)
		rows, err := readRows(ctx, m.src, len(t.columns), q, args...)
		if err != nil {
			return total, fmt.Errorf("read %s: %w", t.name, err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		if err := upsertRows(ctx, m.dst, t, rows); err != nil {
			return total, fmt.Errorf("write %s: %w", t.name, err)
		}
		total += int64(len(rows))
		if err := m.wait(ctx, len(rows)); err != nil {
			return total, err
		}
		after = rows[len(rows)-1][:t.keys]
		if len(rows) < m.chunk {
			return total, nil
		}
	}
}

// copyRowsWhere re-copies the rows of one table of the partition selected by a key list.
func (m *partitionMover) copyRowsWhere(ctx context.Context, t rowTable, column string, values []any) error {
	for start := 0; start < len(values); start += m.chunk {
		part := values[start:min(start+m.chunk, len(values))]
		q := "SELECT " + strings.Join(t.columns, ", ") + " FROM " + t.name + " WHERE partition_id = ? AND " + column +
			" IN (" + strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + ")"
		rows, err := readRows(ctx, m.src, len(t.columns), q, append([]any{m.partition}, part...)...)
		if err != nil {
			return fmt.Errorf("read %s: %w", t.name, err)
		}
		if err := upsertRows(ctx, m.dst, t, rows); err != nil {
			return fmt.Errorf("write %s: %w", t.name, err)
		}
	}
	return nil
}

// copyChanges copies change-log rows with from < seq <= to, keeping (or assigning) each row's
// origin so that repeated copies insert nothing twice. It returns the rows it read, for the
// catch-up to know which rows they touched.
func (m *partitionMover) copyChanges(ctx context.Context, from, to uint64, touched func(rows [][]any)) (int64, error) {
	var total int64
	for {
		rows, err := readRows(ctx, m.src, 10, "SELECT "+changeColumns+" FROM changes WHERE partition_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
			m.partition, from, to, m.chunk)
		if err != nil {
			return total, fmt.Errorf("read changes: %w", err)
		}
		if len(rows) == 0 {
			return total, nil
		}
		var b strings.Builder
		b.WriteString("INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq) VALUES ")
		args := make([]any, 0, 9*len(rows))
		for i, r := range rows {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?,?,?,?,?,?)")
			originShard, originSeq := r[8], r[9]
			if originShard == nil {
				originShard, originSeq = m.srcName, r[0]
			}
			args = append(args, r[1], r[2], r[3], r[4], r[5], r[6], r[7], originShard, originSeq)
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE origin_seq = origin_seq")
		if _, err := m.dst.ExecContext(ctx, b.String(), args...); err != nil {
			return total, fmt.Errorf("write changes: %w", err)
		}
		if touched != nil {
			touched(rows)
		}
		total += int64(len(rows))
		if err := m.wait(ctx, len(rows)); err != nil {
			return total, err
		}
		from = toUint(rows[len(rows)-1][0])
		if len(rows) < m.chunk {
			return total, nil
		}
	}
}

// copyAll copies the whole partition: every row table, and the change log up to watermark.
func (m *partitionMover) copyAll(ctx context.Context, watermark uint64) (int64, error) {
	var total int64
	for _, t := range rowTables {
		n, err := m.copyTable(ctx, t)
		total += n
		if err != nil {
			return total, err
		}
	}
	n, err := m.copyChanges(ctx, 0, watermark, nil)
	return total + n, err
}

// catchUp replays the change log from (from, to]: copies the change rows and re-copies the
// current image of every product, reservation line and header they name.
func (m *partitionMover) catchUp(ctx context.Context, from, to uint64) (int64, error) {
	skus := map[string]bool{}
	lineRefs := map[string]bool{}
	headerRefs := map[string]bool{}
	n, err := m.copyChanges(ctx, from, to, func(rows [][]any) {
		for _, r := range rows {
			sku, kind, ref := toString(r[2]), toString(r[3]), toString(r[6])
			if sku != "" {
				skus[sku] = true
			}
			switch {
			case strings.HasPrefix(kind, "h:"):
				headerRefs[ref] = true
			case ref != "" && sku != "":
				lineRefs[ref] = true
			}
		}
	})
	if err != nil {
		return n, err
	}
	if err := m.copyRowsWhere(ctx, tableByName("products"), "sku", keys(skus)); err != nil {
		return n, err
	}
	// Every lot write logs a change row naming the SKU (lot_receive, lot_take, expire, lot_conflict).
	if err := m.copyRowsWhere(ctx, tableByName("lots"), "sku", keys(skus)); err != nil {
		return n, err
	}
	// Every alert write logs a change row naming the SKU (alert:low|out|resolved|ack).
	if err := m.copyAlerts(ctx, keys(skus)); err != nil {
		return n, err
	}
	if err := m.copyRowsWhere(ctx, tableByName("reservation_lines"), "reservation_id", keys(lineRefs)); err != nil {
		return n, err
	}
	if err := m.copyRowsWhere(ctx, tableByName("reservations"), "id", keys(headerRefs)); err != nil {
		return n, err
	}
	return n, nil
}

// copyAlerts re-copies every alert of the SKUs, resolved ones first: stock_alerts allows one
// active alert per SKU and kind (a unique key), so a target still holding an alert as active
// that the source has since resolved and replaced must see the resolution before the new one.
func (m *partitionMover) copyAlerts(ctx context.Context, skus []any) error {
	t := tableByName("stock_alerts")
	for start := 0; start < len(skus); start += m.chunk {
		part := skus[start:min(start+m.chunk, len(skus))]
		q := "SELECT " + strings.Join(t.columns, ", ") + " FROM stock_alerts WHERE partition_id = ? AND sku IN (" +
			strings.TrimSuffix(strings.Repeat("?,", len(part)), ",") + ") ORDER BY status <> 'resolved', id"
		rows, err := readRows(ctx, m.src, len(t.columns), q, append([]any{m.partition}, part...)...)
		if err != nil {
			return fmt.Errorf("read stock_alerts: %w", err)
		}
		if err := upsertRows(ctx, m.dst, t, rows); err != nil {
			return fmt.Errorf("write stock_alerts: %w", err)
		}
	}
	return nil
}

// purgePartition deletes every row of the partition from db, in chunks.
func purgePartition(ctx context.Context, db *sql.DB, partition, chunk int) (int64, error) {
	var total int64
	for _, t := range partitionTables {
		for {
			res, err := db.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s WHERE partition_id = ? LIMIT %d", t, chunk), partition)
			if err != nil {
				return total, fmt.Errorf("purge %s: %w", t, err)
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

// partitionsWithRows returns which of the partitions hold any row on db (leftovers to clear).
func partitionsWithRows(ctx context.Context, db *sql.DB, partitions []int) (map[int]bool, error) {
	out := map[int]bool{}
	for start := 0; start < len(partitions); start += 1000 {
		part := partitions[start:min(start+1000, len(partitions))]
		args := make([]any, len(part))
		for i, p := range part {
			args[i] = p
		}
		in := strings.TrimSuffix(strings.Repeat("?,", len(part)), ",")
		for _, t := range partitionTables {
			rows, err := db.QueryContext(ctx, "SELECT DISTINCT partition_id FROM "+t+" WHERE partition_id IN ("+in+")", args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var p int
				if err := rows.Scan(&p); err != nil {
					rows.Close()
					return nil, err
				}
				out[p] = true
			}
			rows.Close()
		}
	}
	return out, nil
}

func readRows(ctx context.Context, db *sql.DB, ncols int, q string, args ...any) ([][]any, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
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
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func upsertRows(ctx context.Context, db *sql.DB, t rowTable, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(t.columns)), ",") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + t.name + " (" + strings.Join(t.columns, ", ") + ") VALUES ")
	args := make([]any, 0, len(rows)*len(t.columns))
	for i, r := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
		args = append(args, r...)
	}
	b.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range t.columns[t.keys:] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(c + " = VALUES(" + c + ")")
	}
	_, err := db.ExecContext(ctx, b.String(), args...)
	return err
}

func keys(m map[string]bool) []any {
	out := make([]any, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func toString(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func toUint(v any) uint64 {
	switch x := v.(type) {
	case int64:
		return uint64(x)
	case uint64:
		return x
	case []byte:
		var n uint64
		fmt.Sscan(string(x), &n)
		return n
	}
	return 0
}
