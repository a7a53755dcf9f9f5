// Package demo loads a demo catalogue into a running gateway through its HTTP API: about 300
// products over 8 categories with stock, some low or out of stock, and a few reservations.
// Every request carries an Idempotency-Key, so loading twice (within the key retention) changes
// nothing.
package demo

import (
	"fmt"
	"hash/fnv"
)

// Product is one demo product and the stock it receives.
type Product struct {
	SKU      string
	Name     string
	Category string
	// Scale is the number of decimals of its quantities (0 units, 2 litres, 3 kilograms).
	Scale int
	// LowStockThreshold and Receive are in base units (10^-Scale of the product's unit).
	LowStockThreshold int64
	Receive           int64
}

// Reservation is one demo order.
type Reservation struct {
	OrderID string
	Lines   []Line
	// Commit confirms the reservation after creating it (a shipped order).
	Commit bool
}

// Line is one line of a demo reservation, quantity in base units.
type Line struct {
	SKU      string
	Quantity int64
}

// family is a group of similar products.
type family struct {
	code     string // SKU part: DEMO-<code>-001
	category string
	name     string
	variants []string
	scale    int
	unit     int64 // base units per whole unit: 10^scale
	count    int
}

var families = []family{
	{"TSHIRT", "apparel", "T-shirt", []string{"black S", "black M", "black L", "white S", "white M", "white L", "navy M", "grey L"}, 0, 1, 40},
	{"HOODIE", "apparel", "Hoodie", []string{"charcoal M", "charcoal L", "forest M", "sand L", "black XL"}, 0, 1, 25},
	{"SNEAKER", "footwear", "Sneaker", []string{"runner 40", "runner 42", "runner 44", "court 41", "court 43", "trail 42", "trail 45"}, 0, 1, 35},
	{"CABLE", "electronics", "Cable", []string{"USB-C 1m", "USB-C 2m", "HDMI 2m", "Lightning 1m", "Ethernet 5m"}, 0, 1, 30},
	{"HEADPHONE", "electronics", "Headphones", []string{"over-ear", "in-ear", "sport", "studio"}, 0, 1, 20},
	{"BOOK", "books", "Paperback", []string{"mystery", "sci-fi", "cookbook", "travel guide", "poetry", "history"}, 0, 1, 40},
	{"COFFEE", "coffee", "Coffee beans (kg)", []string{"espresso", "house blend", "decaf", "single origin", "dark roast"}, 3, 1000, 25},
	{"FLOUR", "pantry", "Flour (kg)", []string{"wheat 00", "wholemeal", "rye", "spelt"}, 3, 1000, 20},
	{"OLIVEOIL", "pantry", "Olive oil (l)", []string{"extra virgin", "organic", "cooking"}, 2, 100, 15},
	{"JUICE", "beverages", "Juice (l)", []string{"orange", "apple", "grape", "multivitamin", "tomato"}, 2, 100, 25},
	{"PAINT", "hardware", "Wall paint (l)", []string{"white matt", "white satin", "grey", "sage"}, 2, 100, 15},
	{"SCREW", "hardware", "Wood screws box", []string{"3x20", "4x30", "4x40", "5x50", "6x60"}, 0, 1, 10},
}

// Catalogue returns the demo products in a fixed order. SKUs look like DEMO-TSHIRT-001.
// Every 29th product receives no stock (out of stock) and every 7th only part of its threshold
// (low stock); the others are well stocked.
func Catalogue() []Product {
	var out []Product
	n := 0
	for _, f := range families {
		for i := 1; i <= f.count; i++ {
			n++
			sku := fmt.Sprintf("DEMO-%s-%03d", f.code, i)
			h := hash(sku)
			threshold := (5 + int64(h%16)) * f.unit // 5-20 units
			var receive int64
			switch {
			case n%29 == 0:
				receive = 0
			case n%7 == 0:
				receive = threshold / 2
			default:
				receive = threshold*3 + int64((h>>8)%200)*f.unit
			}
			if f.scale > 0 && receive > 0 {
				receive += int64((h >> 16) % uint64(f.unit)) // some fraction: 12.345 kg, 3.75 l
			}
			variant := f.variants[(i-1)%len(f.variants)]
			out = append(out, Product{
				SKU:               sku,
				Name:              fmt.Sprintf("%s, %s #%d", f.name, variant, i),
				Category:          f.category,
				Scale:             f.scale,
				LowStockThreshold: threshold,
				Receive:           receive,
			})
		}
	}
	return out
}

// Reservations returns the demo orders: held reservations, one committed, and one multi-line
// order spanning several SKUs (and so, usually, several shards). They only touch well-stocked
// products and leave them above their thresholds.
func Reservations() []Reservation {
	return []Reservation{
		{OrderID: "DEMO-ORDER-0001", Lines: []Line{{"DEMO-TSHIRT-002", 2}}},
		{OrderID: "DEMO-ORDER-0002", Lines: []Line{{"DEMO-SNEAKER-003", 1}}},
		{OrderID: "DEMO-ORDER-0003", Lines: []Line{{"DEMO-COFFEE-002", 1500}}}, // 1.500 kg
		{OrderID: "DEMO-ORDER-0004", Lines: []Line{{"DEMO-HOODIE-004", 1}, {"DEMO-CABLE-006", 3}}, Commit: true},
		{OrderID: "DEMO-ORDER-0005", Lines: []Line{
			{"DEMO-TSHIRT-001", 1},
			{"DEMO-BOOK-010", 2},
			{"DEMO-JUICE-003", 250}, // 2.50 l
			{"DEMO-HEADPHONE-002", 1},
			{"DEMO-FLOUR-001", 2000}, // 2.000 kg
		}},
	}
}

// FirstSKU is the SKU `shardstock dev --demo` checks to tell whether the catalogue is loaded.
func FirstSKU() string { return Catalogue()[0].SKU }

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// formatQuantity prints base units as a decimal with exactly scale decimals: 12345, 3 → 12.345.
func formatQuantity(units int64, scale int) string {
	neg := units < 0
	if neg {
		units = -units
	}
	s := fmt.Sprintf("%0*d", scale+1, units)
	if scale > 0 {
		s = s[:len(s)-scale] + "." + s[len(s)-scale:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// categories lists the distinct categories in catalogue order.
func categories(products []Product) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range products {
		if !seen[p.Category] {
			seen[p.Category] = true
			out = append(out, p.Category)
		}
	}
	return out
}
