package demo

import (
	"regexp"
	"testing"
)

func TestCatalogueShape(t *testing.T) {
	products := Catalogue()
	if n := len(products); n < 250 || n > 350 {
		t.Fatalf("catalogue has %d products, want about 300", n)
	}
	if n := len(categories(products)); n != 8 {
		t.Errorf("catalogue has %d categories, want 8", n)
	}
	skuPattern := regexp.MustCompile(`^DEMO-[A-Z]+-[0-9]{3}$`)
	seen := map[string]bool{}
	scales := map[int]int{}
	var low, empty int
	for _, p := range products {
		if !skuPattern.MatchString(p.SKU) || seen[p.SKU] {
			t.Errorf("bad or duplicate SKU %q", p.SKU)
		}
		seen[p.SKU] = true
		scales[p.Scale]++
		if p.LowStockThreshold <= 0 || p.Receive < 0 {
			t.Errorf("%s: threshold %d, receive %d", p.SKU, p.LowStockThreshold, p.Receive)
		}
		switch {
		case p.Receive == 0:
			empty++
		case p.Receive <= p.LowStockThreshold:
			low++
		}
	}
	for _, scale := range []int{0, 2, 3} {
		if scales[scale] == 0 {
			t.Errorf("no product with scale %d", scale)
		}
	}
	if empty < 3 || low < 10 || empty+low > len(products)/3 {
		t.Errorf("%d out of stock and %d low on stock, want a few of each", empty, low)
	}
	if FirstSKU() != "DEMO-TSHIRT-001" {
		t.Errorf("FirstSKU() = %q", FirstSKU())
	}
	// Deterministic: a second call gives the same catalogue, so idempotency keys replay.
	again := Catalogue()
	for i := range products {
		if products[i] != again[i] {
			t.Fatalf("catalogue is not deterministic at %d: %+v vs %+v", i, products[i], again[i])
		}
	}
}

func TestReservationsLeaveProductsStocked(t *testing.T) {
	bySKU := map[string]Product{}
	for _, p := range Catalogue() {
		bySKU[p.SKU] = p
	}
	reserved := map[string]int64{}
	committed, multi := 0, 0
	for _, r := range Reservations() {
		if r.Commit {
			committed++
		}
		if len(r.Lines) > 2 {
			multi++
		}
		for _, l := range r.Lines {
			if _, ok := bySKU[l.SKU]; !ok {
				t.Fatalf("%s reserves unknown SKU %s", r.OrderID, l.SKU)
			}
			reserved[l.SKU] += l.Quantity
		}
	}
	if committed != 1 || multi != 1 {
		t.Errorf("%d committed and %d multi-line reservations, want 1 of each", committed, multi)
	}
	for sku, q := range reserved {
		p := bySKU[sku]
		if p.Receive-q <= p.LowStockThreshold {
			t.Errorf("%s: reserving %d of %d leaves it at or below its threshold %d", sku, q, p.Receive, p.LowStockThreshold)
		}
	}
}

func TestFormatQuantity(t *testing.T) {
	tests := []struct {
		units int64
		scale int
		want  string
	}{
		{0, 0, "0"},
		{42, 0, "42"},
		{12345, 3, "12.345"},
		{5, 3, "0.005"},
		{1500, 3, "1.500"},
		{250, 2, "2.50"},
		{-75, 2, "-0.75"},
	}
	for _, tt := range tests {
		if got := formatQuantity(tt.units, tt.scale); got != tt.want {
			t.Errorf("formatQuantity(%d, %d) = %q, want %q", tt.units, tt.scale, got, tt.want)
		}
	}
}
