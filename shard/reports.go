package shard

import (
	"context"
	"database/sql"
	"fmt"
	"math/big"
)

// Reporting queries. Each one reads only the rows of the partitions the caller's topology
// snapshot assigns to this shard (partition_id IN (...), cheap against a sorted constant list):
// after a cutover the moved-out rows stay on the old shard until cleanup, rows being imported
// are not the target's yet, and during a cutover's brief pause the source's frozen copy is the
// one that counts. The ranked and paged queries keep their ordering index driving the scan, so
// LIMIT stops it early.

// Totals are the stock figures of a group of products that share one scale. Sums are exact
// base units of that scale (they can exceed int64 over a large catalogue).
type Totals struct {
	Scale      int
	Products   int64
	OnHand     *big.Int
	Reserved   *big.Int
	LowStock   int64 // 0 < available <= low_stock_threshold
	OutOfStock int64 // available = 0
}

// CategoryTotals are the Totals of one category and scale.
type CategoryTotals struct {
	Category string
	Totals
}

// totalsColumns aggregates one group; SUM of BIGINT is a DECIMAL and is scanned as text.
const totalsColumns = `COUNT(*), COALESCE(SUM(p.on_hand), 0), COALESCE(SUM(p.reserved), 0),
	COUNT(CASE WHEN p.available > 0 AND p.available <= p.low_stock_threshold THEN 1 END),
	COUNT(CASE WHEN p.available = 0 THEN 1 END)`

// partitionFilter returns the clause keeping the rows of the given partitions; ok is false when
// there are none.
func partitionFilter(keyword string, partitions []int) (where string, args []any, ok bool) {
	if len(partitions) == 0 {
		return "", nil, false
	}
	args = make([]any, len(partitions))
	for i, p := range partitions {
		args[i] = p
	}
	return " " + keyword + " p.partition_id IN (" + placeholders(len(args)) + ")", args, true
}

// StockSummary returns the totals of the products of the given partitions, one row per scale.
func (s *Store) StockSummary(ctx context.Context, partitions []int) ([]Totals, error) {
	where, args, ok := partitionFilter("WHERE", partitions)
	if !ok {
		return nil, nil
	}
	var out []Totals
	err := s.scanRows(ctx, s.db, "SELECT p.scale, "+totalsColumns+" FROM products p"+where+" GROUP BY p.scale", args, func(rows *sql.Rows) error {
		t, err := scanTotals(rows)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CategoryStats returns the totals of the products of the given partitions per category and scale.
func (s *Store) CategoryStats(ctx context.Context, partitions []int) ([]CategoryTotals, error) {
	where, args, ok := partitionFilter("WHERE", partitions)
	if !ok {
		return nil, nil
	}
	var out []CategoryTotals
	err := s.scanRows(ctx, s.db, "SELECT p.category, p.scale, "+totalsColumns+" FROM products p"+where+
		" GROUP BY p.category, p.scale", args, func(rows *sql.Rows) error {
		var t CategoryTotals
		var err error
		t.Totals, err = scanTotals(rows, &t.Category)
		out = append(out, t)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanTotals scans a row of totalsColumns preceded by p.scale, and before that by the group's
// own columns (into lead).
func scanTotals(rows *sql.Rows, lead ...any) (Totals, error) {
	var t Totals
	var onHand, reserved []byte
	if err := rows.Scan(append(lead, &t.Scale, &t.Products, &onHand, &reserved, &t.LowStock, &t.OutOfStock)...); err != nil {
		return t, err
	}
	var err error
	if t.OnHand, t.Reserved, err = parseSums(onHand, reserved); err != nil {
		return t, keep(err) // not a database failure
	}
	return t, nil
}

func parseSums(onHand, reserved []byte) (*big.Int, *big.Int, error) {
	a, ok1 := new(big.Int).SetString(string(onHand), 10)
	b, ok2 := new(big.Int).SetString(string(reserved), 10)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("shard: cannot parse sums %q, %q", onHand, reserved)
	}
	return a, b, nil
}

// ReportFilter restricts a report to the given partitions (the ones the caller's topology
// assigns to this shard) and to one category when Category is set.
type ReportFilter struct {
	Partitions []int
	Category   *string
}

// LowStock returns up to limit owned products with available <= low_stock_threshold, most
// urgent first: by the decimal value of available - low_stock_threshold (exact across scales,
// see the low_stock_gap_micros column), then SKU. It is an index range scan that stops after
// limit rows.
func (s *Store) LowStock(ctx context.Context, f ReportFilter, limit int) ([]Product, error) {
	in, args, ok := partitionFilter("AND", f.Partitions)
	if !ok {
		return []Product{}, nil
	}
	var q string
	if f.Category != nil {
		q = "SELECT " + prefixed + " FROM products p FORCE INDEX (products_category_low_stock)" +
			" WHERE p.category = ? AND p.low_stock_gap_micros <= 0" + in
		args = append([]any{*f.Category}, args...)
	} else {
		q = "SELECT " + prefixed + " FROM products p FORCE INDEX (products_low_stock)" +
			" WHERE p.low_stock_gap_micros <= 0" + in
	}
	q += " ORDER BY p.low_stock_gap_micros, p.sku LIMIT ?"
	args = append(args, limit)
	return s.queryProducts(ctx, q, args...)
}

// ProductPage returns up to limit owned products with SKUs after the given one (all when
// after is ""), in SKU order, restricted to one category when the filter says so.
func (s *Store) ProductPage(ctx context.Context, f ReportFilter, after string, limit int) ([]Product, error) {
	in, pargs, ok := partitionFilter("AND", f.Partitions)
	if !ok {
		return []Product{}, nil
	}
	var q string
	var args []any
	if f.Category != nil {
		q = "SELECT " + prefixed + " FROM products p FORCE INDEX (products_category)" +
			" WHERE p.category = ? AND p.sku > ?" + in + " ORDER BY p.sku LIMIT ?"
		args = append(append([]any{*f.Category, after}, pargs...), limit)
	} else {
		q = "SELECT " + prefixed + " FROM products p FORCE INDEX (PRIMARY)" +
			" WHERE p.sku > ?" + in + " ORDER BY p.sku LIMIT ?"
		args = append(append([]any{after}, pargs...), limit)
	}
	return s.queryProducts(ctx, q, args...)
}

// prefixed is productColumns qualified with the products alias p.
const prefixed = "p.sku, p.partition_id, p.name, p.category, p.scale, p.on_hand, p.reserved, p.low_stock_threshold, p.version, p.updated_at"

func (s *Store) queryProducts(ctx context.Context, q string, args ...any) ([]Product, error) {
	out := []Product{}
	err := s.scanRows(ctx, s.db, q, args, func(rows *sql.Rows) error {
		p, err := scanProduct(rows)
		out = append(out, p)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
