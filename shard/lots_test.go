package shard_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/tools/clustertest"

	"github.com/shardstock/shardstock/shard"
)

func TestValidateLotCode(t *testing.T) {
	for _, tc := range []struct {
		code string
		ok   bool
	}{
		{"L-2026-11", true},
		{"a", true},
		{"B/7.x_9", true},
		{strings.Repeat("x", 64), true},
		{"", false},
		{strings.Repeat("x", 65), false},
		{"L:1", false}, // ':' separates code and quantity in change-log refs
		{"L 1", false},
		{"lot€", false},
	} {
		err := shard.ValidateLotCode(tc.code)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateLotCode(%q) = %v, want ok=%v", tc.code, err, tc.ok)
		}
		if err != nil && !inventory.IsCode(err, inventory.CodeValidation) {
			t.Errorf("ValidateLotCode(%q) code %s, want validation_failed", tc.code, inventory.ErrorCode(err))
		}
	}
}

// lotStore is a migrated shard that owns partition 1.
func lotStore(t *testing.T) *shard.Store {
	t.Helper()
	return clustertest.ShardStore(t, "s", 1)
}

func newProduct(t *testing.T, st *shard.Store, sku string, scale int) {
	t.Helper()
	name := "product " + sku
	if _, _, err := st.PutProduct(context.Background(), shard.ProductSpec{SKU: sku, Partition: 1, Name: &name, Scale: &scale}); err != nil {
		t.Fatal(err)
	}
}

func dec(t *testing.T, s string) *inventory.Quantity {
	t.Helper()
	d, err := inventory.ParseQuantity(s)
	if err != nil {
		t.Fatal(err)
	}
	return &d
}

func receive(t *testing.T, st *shard.Store, sku, code, qty string, expires time.Time) (shard.Product, shard.Lot, error) {
	t.Helper()
	p, l, _, err := st.ReceiveLot(context.Background(), shard.LotReceipt{SKU: sku, Partition: 1, Code: code, Quantity: *dec(t, qty), ExpiresAt: expires})
	return p, l, err
}

// remaining returns lot code → remaining (printed in the scale) of every lot of sku.
func remaining(t *testing.T, st *shard.Store, sku string) map[string]string {
	t.Helper()
	p, lots, err := st.ListLots(context.Background(), sku, 1, true, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var sum int64
	for _, l := range lots {
		out[l.Code] = inventory.FormatUnits(l.Remaining, p.Scale)
		sum += l.Remaining
	}
	if sum != p.OnHand {
		t.Fatalf("%s: on_hand %d but lots hold %d", sku, p.OnHand, sum)
	}
	return out
}

// lotRows returns the kind and ref of the change rows of sku with the given kinds, in order.
func lotRows(t *testing.T, db *sql.DB, sku string, kinds ...inventory.ChangeKind) []string {
	t.Helper()
	args := []any{sku}
	for _, k := range kinds {
		args = append(args, k)
	}
	rows, err := db.Query("SELECT kind, ref FROM changes WHERE sku = ? AND kind IN (?"+strings.Repeat(",?", len(kinds)-1)+") ORDER BY seq", args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k, r string
		if err := rows.Scan(&k, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, k+" "+r)
	}
	return out
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Decreases take from the lots first expired first out, across several lots, with exact
// decimals; each take is in the change log; positive adjustments are refused.
func TestLotsConsumedFirstExpiredFirstOut(t *testing.T) {
	ctx := context.Background()
	st := lotStore(t)
	newProduct(t, st, "MILK", 3)
	now := time.Now().UTC()
	for _, l := range []struct {
		code, qty string
		days      int
	}{{"LATE", "5.25", 30}, {"EARLY", "1.125", 10}, {"MID", "2.5", 20}} {
		if _, _, err := receive(t, st, "MILK", l.code, l.qty, now.Add(time.Duration(l.days)*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// A damage adjustment of 3: EARLY (1.125) entirely, then 1.875 of MID.
	p, err := st.ChangeStock(ctx, shard.StockChange{SKU: "MILK", Partition: 1, Delta: dec(t, "-3"), Reason: "damage"})
	if err != nil {
		t.Fatal(err)
	}
	if got := inventory.FormatUnits(p.OnHand, 3); got != "5.875" {
		t.Fatalf("on_hand %s, want 5.875", got)
	}
	if got, want := remaining(t, st, "MILK"), map[string]string{"EARLY": "0", "MID": "0.625", "LATE": "5.25"}; !equalMaps(got, want) {
		t.Fatalf("lots %v, want %v", got, want)
	}
	// An absolute set to 1: MID's 0.625, then 4.25 of LATE.
	if _, err := st.ChangeStock(ctx, shard.StockChange{SKU: "MILK", Partition: 1, OnHand: dec(t, "1"), Reason: "count"}); err != nil {
		t.Fatal(err)
	}
	if got, want := remaining(t, st, "MILK"), map[string]string{"EARLY": "0", "MID": "0", "LATE": "1"}; !equalMaps(got, want) {
		t.Fatalf("lots %v, want %v", got, want)
	}
	want := []string{"lot_take EARLY:1.125", "lot_take MID:1.875", "lot_take MID:0.625", "lot_take LATE:4.25"}
	if got := lotRows(t, st.DB(), "MILK", inventory.KindLotTake); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("lot_take rows %v, want %v", got, want)
	}
	// Lot-tracked stock only arrives through a lot.
	for _, c := range []shard.StockChange{
		{SKU: "MILK", Partition: 1, Delta: dec(t, "1"), Reason: "return"},
		{SKU: "MILK", Partition: 1, OnHand: dec(t, "2"), Reason: "count"},
	} {
		if _, err := st.ChangeStock(ctx, c); !inventory.IsCode(err, inventory.CodeValidation) {
			t.Fatalf("positive change of a lot-tracked product: %v, want validation_failed", err)
		}
	}
	// The same code adds up with the same expiry and conflicts with another one.
	if _, l, err := receive(t, st, "MILK", "LATE", "0.5", now.Add(30*24*time.Hour)); err != nil || l.Remaining != 1500 || l.Received != 5750 {
		t.Fatalf("second receipt of LATE: %+v %v", l, err)
	}
	if _, _, err := receive(t, st, "MILK", "LATE", "1", now.Add(31*24*time.Hour)); !inventory.IsCode(err, inventory.CodeInvalidState) {
		t.Fatalf("LATE with another expiry: %v, want invalid_state", err)
	}
	// Validation in the product's scale; expiry in the future.
	if _, _, err := receive(t, st, "MILK", "X", "0.0001", now.Add(time.Hour)); !inventory.IsCode(err, inventory.CodeValidation) {
		t.Fatalf("too many decimals: %v", err)
	}
	if _, _, err := receive(t, st, "MILK", "X", "1", now.Add(-time.Second)); !inventory.IsCode(err, inventory.CodeValidation) {
		t.Fatalf("expiry in the past: %v", err)
	}
	// A product with stock outside lots cannot start lot tracking.
	newProduct(t, st, "BULK", 0)
	if _, err := st.ChangeStock(ctx, shard.StockChange{SKU: "BULK", Partition: 1, Delta: dec(t, "4"), Reason: "receive"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := receive(t, st, "BULK", "L1", "1", now.Add(time.Hour)); !inventory.IsCode(err, inventory.CodeInvalidState) {
		t.Fatalf("first lot of a product with untracked stock: %v, want invalid_state", err)
	}
	// ... and untracked products are untouched by lot logic.
	if _, err := st.ChangeStock(ctx, shard.StockChange{SKU: "BULK", Partition: 1, Delta: dec(t, "-4"), Reason: "damage"}); err != nil {
		t.Fatal(err)
	}
}

// Expired quantity is removed by the sweeper with an expire change, never below what is
// reserved; what reserved stock needs stays and is recorded once as a conflict. A commit takes
// unexpired lots first and only then the expired lot.
func TestLotExpirySweep(t *testing.T) {
	ctx := context.Background()
	st := lotStore(t)
	newProduct(t, st, "YOG", 2)
	now := time.Now().UTC()
	for _, l := range []struct{ code, qty string }{{"OLD", "5"}, {"NEW", "3"}, {"GONE", "1.5"}} {
		if _, _, err := receive(t, st, "YOG", l.code, l.qty, now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// Hold 7.5 of the 9.5 on hand.
	h := shard.Header{ID: "r1", Partition: 1, OrderID: "o", Lines: []shard.LineRequest{{SKU: "YOG", Partition: 1, Quantity: *dec(t, "7.5"), Requested: "7.5"}}}
	if _, err := st.CreateLocal(ctx, h, time.Hour); err != nil {
		t.Fatal(err)
	}
	// OLD and GONE expire (moved into the past directly: the sweep reads the shard's clock).
	if _, err := st.DB().Exec("UPDATE lots SET expires_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE lot_code IN ('OLD', 'GONE')"); err != nil {
		t.Fatal(err)
	}
	// free = 9.5 - 7.5 = 2: GONE (earlier by code order at equal expiry) loses 1.5, OLD 0.5;
	// OLD's other 4.5 are needed by the reservation → conflict.
	res, err := st.Upkeep().SweepExpiredLots(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res != (shard.LotSweep{Products: 1, Expired: 2, Conflicts: 1}) {
		t.Fatalf("sweep %+v", res)
	}
	if got, want := remaining(t, st, "YOG"), map[string]string{"OLD": "4.5", "NEW": "3", "GONE": "0"}; !equalMaps(got, want) {
		t.Fatalf("lots %v, want %v", got, want)
	}
	p, err := st.GetProduct(ctx, "YOG", 1)
	if err != nil || p.OnHand != 750 || p.Reserved != 750 {
		t.Fatalf("after sweep %+v %v", p, err)
	}
	// A second sweep changes nothing and records no second conflict.
	if res, err := st.Upkeep().SweepExpiredLots(ctx, 10); err != nil || res.Expired != 0 || res.Conflicts != 0 {
		t.Fatalf("second sweep %+v %v", res, err)
	}
	want := []string{"expire GONE", "expire OLD", "lot_conflict OLD:4.5"}
	if got := lotRows(t, st.DB(), "YOG", inventory.KindLotExpire, inventory.KindLotConflict); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %v, want %v", got, want)
	}
	// Committing the 7.5 takes NEW (unexpired) first, then 4.5 of the expired OLD.
	if _, moved, err := st.FinishLocal(ctx, "r1", 1, []inventory.Status{inventory.StatusHeld}, inventory.StatusCommitted, shard.ActionCommit, inventory.KindCommit, true); err != nil || !moved {
		t.Fatalf("commit: %v %v", moved, err)
	}
	if got, want := remaining(t, st, "YOG"), map[string]string{"OLD": "0", "NEW": "0", "GONE": "0"}; !equalMaps(got, want) {
		t.Fatalf("lots %v, want %v", got, want)
	}
	want = []string{"lot_take NEW:3", "lot_take OLD:4.5"}
	if got := lotRows(t, st.DB(), "YOG", inventory.KindLotTake); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("rows %v, want %v", got, want)
	}
}
