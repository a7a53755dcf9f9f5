package shard_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/tools/clustertest"

	"github.com/shardstock/shardstock/shard"
)

// alertStore is a migrated shard that owns partition 1.
func alertStore(t *testing.T) *shard.Store {
	t.Helper()
	return clustertest.ShardStore(t, "s", 1)
}

func putThreshold(t *testing.T, st *shard.Store, sku, threshold string) {
	t.Helper()
	name := "product " + sku
	d, err := inventory.ParseQuantity(threshold)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.PutProduct(context.Background(), shard.ProductSpec{SKU: sku, Partition: 1, Name: &name, LowStockThreshold: &d}); err != nil {
		t.Fatal(err)
	}
}

func adjust(t *testing.T, st *shard.Store, sku, delta string) {
	t.Helper()
	d, err := inventory.ParseQuantity(delta)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.ChangeStock(context.Background(), shard.StockChange{SKU: sku, Partition: 1, Delta: &d, Reason: "correction"}); err != nil {
		t.Fatal(err)
	}
}

// activeAlerts returns "kind:status" of the SKU's active alerts, sorted.
func activeAlerts(t *testing.T, db *sql.DB, sku string) string {
	t.Helper()
	rows, err := db.Query("SELECT kind, status FROM stock_alerts WHERE sku = ? AND status <> 'resolved' ORDER BY kind", sku)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, s string
		if err := rows.Scan(&k, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, k+":"+s)
	}
	return strings.Join(out, ",")
}

// alertLog returns the alert change rows of the SKU in seq order as "kind kindOfRefAlert",
// e.g. "alert:low low_stock", "alert:resolved out_of_stock".
func alertLog(t *testing.T, db *sql.DB, sku string) []string {
	t.Helper()
	rows, err := db.Query(`SELECT c.kind, COALESCE(a.kind, '?'), c.delta_on_hand, c.delta_reserved FROM changes c
		LEFT JOIN stock_alerts a ON a.id = c.ref WHERE c.sku = ? AND c.kind LIKE 'alert:%' ORDER BY c.seq`, sku)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, ak string
		var doh, drs int64
		if err := rows.Scan(&k, &ak, &doh, &drs); err != nil {
			t.Fatal(err)
		}
		if doh != 0 || drs != 0 {
			t.Errorf("alert change row %s with deltas %d/%d", k, doh, drs)
		}
		out = append(out, k+" "+ak)
	}
	return out
}

// Alerts open and resolve in the transaction of the change that crosses the threshold, exactly
// at it: low_stock while 0 <= available <= threshold (threshold > 0), out_of_stock at 0.
func TestAlertsFollowStock(t *testing.T) {
	st := alertStore(t)
	db := st.DB()
	seen := 0
	step := func(what, wantActive string, wantLog ...string) {
		t.Helper()
		if got := activeAlerts(t, db, "A"); got != wantActive {
			t.Errorf("%s: active alerts %q, want %q", what, got, wantActive)
		}
		log := alertLog(t, db, "A")
		if got := log[seen:]; !slices.Equal(got, wantLog) {
			t.Errorf("%s: new alert rows %q, want %q", what, got, wantLog)
		}
		seen = len(log)
	}
	putThreshold(t, st, "A", "5")
	step("created empty", "low_stock:open,out_of_stock:open", "alert:low low_stock", "alert:out out_of_stock")
	adjust(t, st, "A", "10")
	step("received 10", "", "alert:resolved out_of_stock", "alert:resolved low_stock")
	adjust(t, st, "A", "-4")
	step("6 > 5", "")
	adjust(t, st, "A", "-1")
	step("5 = threshold", "low_stock:open", "alert:low low_stock")
	adjust(t, st, "A", "-1")
	step("4", "low_stock:open")
	adjust(t, st, "A", "-4")
	step("0", "low_stock:open,out_of_stock:open", "alert:out out_of_stock")
	adjust(t, st, "A", "1")
	step("1", "low_stock:open", "alert:resolved out_of_stock")
	adjust(t, st, "A", "-1")
	step("0 again", "low_stock:open,out_of_stock:open", "alert:out out_of_stock")
	adjust(t, st, "A", "6")
	step("6", "", "alert:resolved out_of_stock", "alert:resolved low_stock")
	putThreshold(t, st, "A", "6")
	step("threshold raised to 6", "low_stock:open", "alert:low low_stock")
	putThreshold(t, st, "A", "6")
	step("same threshold again", "low_stock:open")
	putThreshold(t, st, "A", "0")
	step("threshold 0", "", "alert:resolved low_stock")
	adjust(t, st, "A", "-6")
	step("0 with threshold 0", "out_of_stock:open", "alert:out out_of_stock")

	// Exact decimals: scale 3, threshold 2.5 against available 2.501 and 2.500.
	name := "decimal"
	scale := 3
	if _, _, err := st.PutProduct(context.Background(), shard.ProductSpec{SKU: "D", Partition: 1, Name: &name, Scale: &scale,
		LowStockThreshold: &inventory.Quantity{Units: 25, Scale: 1}}); err != nil {
		t.Fatal(err)
	}
	adjust(t, st, "D", "2.501")
	if got := activeAlerts(t, db, "D"); got != "" {
		t.Errorf("2.501 > 2.5: active %q", got)
	}
	adjust(t, st, "D", "-0.001")
	if got := activeAlerts(t, db, "D"); got != "low_stock:open" {
		t.Errorf("2.500 = 2.5: active %q", got)
	}
}

// Acknowledging: open → acknowledged (idempotent), resolved → invalid_state, unknown →
// not_found; an acknowledged alert still resolves when the stock recovers.
func TestAcknowledgeAlert(t *testing.T) {
	ctx := context.Background()
	st := alertStore(t)
	putThreshold(t, st, "K", "3")
	adjust(t, st, "K", "2")
	var id string
	if err := st.DB().QueryRow("SELECT id FROM stock_alerts WHERE sku = 'K' AND status = 'open'").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if p, ok := shard.AlertPartition(id); !ok || p != 1 {
		t.Fatalf("alert id %q encodes partition %d %v, want 1", id, p, ok)
	}
	a, err := st.AcknowledgeAlert(ctx, id, 1)
	if err != nil || a.Status != inventory.AlertAcknowledged || a.AcknowledgedAt == nil || a.Kind != inventory.AlertLowStock ||
		a.Available != 2 || a.LowStockThreshold != 3 || a.AvailableAtOpen != 0 { // opened when the product was created empty
		t.Fatalf("acknowledge: %+v %v", a, err)
	}
	again, err := st.AcknowledgeAlert(ctx, id, 1)
	if err != nil || again.Status != inventory.AlertAcknowledged || !again.AcknowledgedAt.Equal(*a.AcknowledgedAt) {
		t.Fatalf("acknowledge again: %+v %v", again, err)
	}
	if _, err := st.AcknowledgeAlert(ctx, "a00001"+strings.Repeat("0", 24), 1); !inventory.IsCode(err, inventory.CodeNotFound) {
		t.Errorf("unknown alert: %v", err)
	}
	adjust(t, st, "K", "5")
	if got := activeAlerts(t, st.DB(), "K"); got != "" {
		t.Errorf("acknowledged alert not resolved: %q", got)
	}
	if _, err := st.AcknowledgeAlert(ctx, id, 1); !inventory.IsCode(err, inventory.CodeInvalidState) {
		t.Errorf("resolved alert: %v", err)
	}
	if _, err := st.AcknowledgeAlert(ctx, id, 2); !inventory.IsCode(err, inventory.CodePartitionMoved) {
		t.Errorf("partition not owned: %v", err)
	}
	want := []string{"alert:low low_stock", "alert:out out_of_stock", "alert:resolved out_of_stock", "alert:ack low_stock", "alert:resolved low_stock"}
	if got := alertLog(t, st.DB(), "K"); !slices.Equal(got, want) {
		t.Errorf("log %q, want %q", got, want)
	}
}

// The reconcile pass repairs what was changed around the API, and a second pass finds nothing.
func TestReconcileAlerts(t *testing.T) {
	ctx := context.Background()
	st := alertStore(t)
	db := st.DB()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(err)
		}
	}
	for _, sku := range []string{"deleted", "sqlstock", "sqlthreshold", "orphan", "healthy"} {
		putThreshold(t, st, sku, "5")
		adjust(t, st, sku, "20")
	}
	adjust(t, st, "deleted", "-16") // 4: low_stock open…
	exec("DELETE FROM stock_alerts WHERE sku = 'deleted'")
	// …stock taken in SQL, with its change row, as an out-of-band import would.
	exec("UPDATE products SET on_hand = 0 WHERE sku = 'sqlstock'")
	exec(`INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref) VALUES (1, 'sqlstock', 'count', -20, 0, '')`)
	adjust(t, st, "sqlthreshold", "-17") // 3: low open; then the threshold drops in SQL
	exec("UPDATE products SET low_stock_threshold = 2 WHERE sku = 'sqlthreshold'")
	exec(`INSERT INTO stock_alerts (id, partition_id, sku, kind, status, scale, available_at_open, threshold, opened_at, updated_at)
		VALUES ('a00001ORPHAN000000000000000000', 1, 'orphan', 'out_of_stock', 'open', 0, 0, 5, NOW(6), NOW(6))`)
	// A bulk-loaded product that never went through a mutation.
	exec(`INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at)
		VALUES ('bulk', 1, 'bulk', '', 0, 7, 0, 10, 1, NOW(6), NOW(6))`)
	exec(`INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref) VALUES (1, 'bulk', 'create', 7, 0, '')`)
	// A product of a partition this shard does not own is left alone.
	exec(`INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at)
		VALUES ('elsewhere', 2, 'x', '', 0, 0, 0, 10, 1, NOW(6), NOW(6))`)

	r, err := st.Upkeep().ReconcileAlerts(ctx, 2) // a small batch: the pass pages
	if err != nil {
		t.Fatal(err)
	}
	// deleted: low opened again; sqlstock: low and out opened; sqlthreshold: low resolved;
	// orphan: its alert resolved; bulk: low opened.
	if want := (shard.AlertRepairs{Opened: 4, Resolved: 2}); r != want {
		t.Errorf("first pass %+v, want %+v", r, want)
	}
	for sku, want := range map[string]string{"deleted": "low_stock:open", "sqlstock": "low_stock:open,out_of_stock:open",
		"sqlthreshold": "", "orphan": "", "healthy": "", "bulk": "low_stock:open", "elsewhere": ""} {
		if got := activeAlerts(t, db, sku); got != want {
			t.Errorf("%s: active %q, want %q", sku, got, want)
		}
	}
	// The product row names what is open: the hot path resolves it without a lookup.
	adjust(t, st, "deleted", "10")
	if got := activeAlerts(t, db, "deleted"); got != "" {
		t.Errorf("deleted: after restock active %q", got)
	}
	// A product whose record names an alert that was resolved behind its back is relinked.
	exec("UPDATE stock_alerts SET status = 'resolved' WHERE sku = 'bulk'")
	exec("INSERT INTO stock_alerts (id, partition_id, sku, kind, status, scale, available_at_open, threshold, opened_at, updated_at) " +
		"VALUES ('a00001BULK00000000000000000000', 1, 'bulk', 'low_stock', 'open', 0, 7, 10, NOW(6), NOW(6))")
	r, err = st.Upkeep().ReconcileAlerts(ctx, 100)
	if err != nil || r != (shard.AlertRepairs{Relinked: 1}) {
		t.Errorf("relink pass %+v %v", r, err)
	}
	var named string
	if err := db.QueryRow("SELECT low_alert_id FROM products WHERE sku = 'bulk'").Scan(&named); err != nil || named != "a00001BULK00000000000000000000" {
		t.Errorf("bulk names %q %v", named, err)
	}
	if r, err := st.Upkeep().ReconcileAlerts(ctx, 100); err != nil || r.Total() != 0 {
		t.Errorf("second pass %+v %v", r, err)
	}
	var zero int
	if err := db.QueryRow("SELECT COUNT(*) FROM changes WHERE kind LIKE 'alert:%' AND (delta_on_hand <> 0 OR delta_reserved <> 0)").Scan(&zero); err != nil || zero != 0 {
		t.Errorf("%d alert change rows with deltas (%v)", zero, err)
	}
}

// At most one active alert per product and kind, whatever writes it.
func TestOneActiveAlertPerKind(t *testing.T) {
	st := alertStore(t)
	putThreshold(t, st, "U", "5")
	_, err := st.DB().Exec(`INSERT INTO stock_alerts (id, partition_id, sku, kind, status, scale, available_at_open, threshold, opened_at, updated_at)
		VALUES ('a00001DUP0000000000000000000000', 1, 'U', 'low_stock', 'acknowledged', 0, 0, 5, NOW(6), NOW(6))`)
	if me := (*mysql.MySQLError)(nil); !errors.As(err, &me) || me.Number != 1062 { // duplicate key
		t.Fatalf("second active low_stock alert: %v", err)
	}
	for i := 0; i < 3; i++ {
		if _, err := st.DB().Exec(fmt.Sprintf(`INSERT INTO stock_alerts (id, partition_id, sku, kind, status, scale, available_at_open,
			threshold, opened_at, updated_at) VALUES ('a00001OLD%021d', 1, 'U', 'low_stock', 'resolved', 0, 0, 5, NOW(6), NOW(6))`, i)); err != nil {
			t.Fatalf("resolved alerts may repeat: %v", err)
		}
	}
}
