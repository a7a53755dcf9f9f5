package shard_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// The reporting migration adds exact generated columns, goes down and up again, and the
// report queries use the indexes they were designed for.
func TestReportingSchema(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.Server(t).NewDatabase(t, "reports")
	if err := shard.MigrateUp(ctx, dsn, shard.StoreSchema); err != nil {
		t.Fatal(err)
	}
	st, err := shard.Open("s", dsn, shard.PoolOptions{MaxOpen: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := st.DB()
	if err := st.Mover().SetFences(ctx, inventory.FenceOwned, []int{1}); err != nil {
		t.Fatal(err)
	}
	// scale 0: available 7, gap 7-10 = -3 → -3000000 millionths;
	// scale 6: on_hand at the limit, gap -(10^15-1) units → -999999999999999 millionths;
	// scale 0 at the limit: gap -(10^15-1) units → beyond BIGINT in millionths.
	if _, err := db.ExecContext(ctx, `INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved,
		low_stock_threshold, version, created_at, updated_at) VALUES
		('a', 1, 'a', 'c', 0, 9, 2, 10, 1, NOW(6), NOW(6)),
		('b', 1, 'b', 'c', 6, 0, 0, 999999999999999, 1, NOW(6), NOW(6)),
		('c', 1, 'c', 'c', 0, 0, 0, 999999999999999, 1, NOW(6), NOW(6)),
		('d', 2, 'd', 'c', 0, 0, 0, 999999999999999, 1, NOW(6), NOW(6))`); err != nil {
		t.Fatal(err)
	}
	for sku, want := range map[string]string{"a": "7 -3000000", "b": "0 -999999999999999", "c": "0 -999999999999999000000"} {
		var avail, gap string
		if err := db.QueryRowContext(ctx, "SELECT available, low_stock_gap_micros FROM products WHERE sku = ?", sku).Scan(&avail, &gap); err != nil {
			t.Fatal(err)
		}
		if avail+" "+gap != want {
			t.Errorf("%s: available, gap = %s %s, want %s", sku, avail, gap, want)
		}
	}
	low, err := st.LowStock(ctx, shard.ReportFilter{Partitions: []int{1}}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, p := range low {
		order = append(order, p.SKU)
	}
	if strings.Join(order, ",") != "c,b,a" { // d is in a partition not asked for
		t.Errorf("low-stock order %v, want c,b,a", order)
	}
	sum, err := st.StockSummary(ctx, []int{1})
	if err != nil || len(sum) != 2 {
		t.Fatalf("summary %+v %v", sum, err)
	}

	for _, q := range []struct{ query, key string }{
		{"SELECT p.sku FROM products p FORCE INDEX (products_low_stock) WHERE p.low_stock_gap_micros <= 0 AND p.partition_id IN (1, 3) ORDER BY p.low_stock_gap_micros, p.sku LIMIT 5", "products_low_stock"},
		{"SELECT p.sku FROM products p FORCE INDEX (products_category_low_stock) WHERE p.category = 'c' AND p.low_stock_gap_micros <= 0 AND p.partition_id IN (1, 3) ORDER BY p.low_stock_gap_micros, p.sku LIMIT 5", "products_category_low_stock"},
		{"SELECT p.sku FROM products p FORCE INDEX (products_category) WHERE p.category = 'c' AND p.sku > 'a' AND p.partition_id IN (1, 3) ORDER BY p.sku LIMIT 5", "products_category"},
	} {
		if got := explainKey(t, db, q.query); got != q.key {
			t.Errorf("EXPLAIN %s: key %q, want %q", q.query, got, q.key)
		}
	}

	// Down to version 1 (later migrations go down first), then up again.
	v, err := shard.MigrationVersion(ctx, dsn, shard.StoreSchema)
	if err != nil || v.Version < 2 {
		t.Fatalf("version %+v %v", v, err)
	}
	if err := shard.MigrateDown(ctx, dsn, shard.StoreSchema, int(v.Version)-1); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
		AND table_name = 'products' AND column_name IN ('available', 'low_stock_gap_micros')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("after down: %d generated columns left (%v)", n, err)
	}
	if err := shard.MigrateUp(ctx, dsn, shard.StoreSchema); err != nil {
		t.Fatal(err)
	}
}

// explainKey returns the index EXPLAIN shows for the products table.
func explainKey(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if row["table"] == "p" {
			return row["key"]
		}
	}
	return ""
}
