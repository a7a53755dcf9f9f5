package shard

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Product is a product row with exact quantities in base units of its scale.
type Product struct {
	SKU               string
	Partition         int
	Name              string
	Category          string
	Scale             int
	OnHand            int64
	Reserved          int64
	LowStockThreshold int64
	Version           int64
	UpdatedAt         time.Time
}

// Available is on_hand - reserved (never below zero by the invariant).
func (p Product) Available() int64 { return p.OnHand - p.Reserved }

const productColumns = "sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, updated_at"

func scanProduct(row interface{ Scan(...any) error }) (Product, error) {
	var p Product
	err := row.Scan(&p.SKU, &p.Partition, &p.Name, &p.Category, &p.Scale, &p.OnHand, &p.Reserved,
		&p.LowStockThreshold, &p.Version, &p.UpdatedAt)
	return p, err
}

// GetProduct reads one product of the given partition (not_found when absent). Reads check the
// fence too, in the same round trip: a gateway with a stale topology gets partition_moved
// rather than the frozen copy a cutover left behind (or a false not_found).
func (s *Store) GetProduct(ctx context.Context, sku string, partition int) (Product, error) {
	return s.ownedProduct(ctx, s.db, sku, partition)
}

// ownedProduct reads a product and its partition's fence in one statement on q (the pool or a
// read transaction): partition_moved unless the fence is owned, else not_found or the product.
func (s *Store) ownedProduct(ctx context.Context, q rowQuerier, sku string, partition int) (Product, error) {
	var state sql.NullString
	row := q.QueryRowContext(ctx, "SELECT f.state, "+prefixed+
		" FROM partition_fence f LEFT JOIN products p ON p.sku = ? WHERE f.partition_id = ?", sku, partition)
	var p nullableProduct
	err := row.Scan(append([]any{&state}, p.dest()...)...)
	switch {
	case errors.Is(err, sql.ErrNoRows) || err == nil && inventory.FenceState(state.String) != inventory.FenceOwned:
		return Product{}, movedError(partition)
	case err != nil:
		return Product{}, s.classify(err)
	case !p.sku.Valid:
		return Product{}, inventory.Errorf(inventory.CodeNotFound, "product %q not found", sku)
	}
	return p.product(), nil
}

// GetProducts reads the products with the given SKUs (their partitions given alongside);
// absent SKUs are simply not returned. Only rows of partitions this shard owns count; when a
// requested SKU is missing, its partition's fence decides between absent and moved.
func (s *Store) GetProducts(ctx context.Context, skus []string, partitions []int) (map[string]Product, error) {
	out := make(map[string]Product, len(skus))
	for start := 0; start < len(skus); start += 500 {
		end := min(start+500, len(skus))
		args := make([]any, 0, end-start)
		for _, sku := range skus[start:end] {
			args = append(args, sku)
		}
		rows, err := s.db.QueryContext(ctx, "SELECT "+prefixed+` FROM products p
			JOIN partition_fence f ON f.partition_id = p.partition_id AND f.state = 'owned'
			WHERE p.sku IN (`+placeholders(len(args))+")", args...)
		if err != nil {
			return nil, s.classify(err)
		}
		for rows.Next() {
			p, err := scanProduct(rows)
			if err != nil {
				rows.Close()
				return nil, s.classify(err)
			}
			out[p.SKU] = p
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, s.classify(err)
		}
	}
	var missing []int
	for i, sku := range skus {
		if _, ok := out[sku]; !ok {
			missing = append(missing, partitions[i])
		}
	}
	if len(missing) > 0 {
		if err := s.requireOwned(ctx, missing); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// requireOwned fails with partition_moved unless this shard owns every partition (a plain read).
func (s *Store) requireOwned(ctx context.Context, partitions []int) error {
	uniq := dedupeInts(partitions)
	args := make([]any, len(uniq))
	for i, p := range uniq {
		args[i] = p
	}
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM partition_fence WHERE state = 'owned' AND partition_id IN ("+placeholders(len(uniq))+")", args...).Scan(&n)
	if err != nil {
		return s.classify(err)
	}
	if n != len(uniq) {
		return movedError(uniq...)
	}
	return nil
}

func movedError(partitions ...int) error {
	return inventory.Errorf(inventory.CodePartitionMoved, "partition not owned by this shard").WithDetails(map[string]any{"partitions": partitions})
}

// nullableProduct scans a product from an outer join.
type nullableProduct struct {
	sku, name, category                  sql.NullString
	partition, scale                     sql.NullInt64
	onHand, reserved, threshold, version sql.NullInt64
	updatedAt                            sql.NullTime
}

func (n *nullableProduct) dest() []any {
	return []any{&n.sku, &n.partition, &n.name, &n.category, &n.scale, &n.onHand, &n.reserved, &n.threshold, &n.version, &n.updatedAt}
}

func (n *nullableProduct) product() Product {
	return Product{SKU: n.sku.String, Partition: int(n.partition.Int64), Name: n.name.String, Category: n.category.String,
		Scale: int(n.scale.Int64), OnHand: n.onHand.Int64, Reserved: n.reserved.Int64, LowStockThreshold: n.threshold.Int64,
		Version: n.version.Int64, UpdatedAt: n.updatedAt.Time}
}

// ProductSpec is the body of a product create-or-update. Nil fields keep their current value
// on an update and take their default on a create (name is required to create).
type ProductSpec struct {
	SKU               string
	Partition         int
	Name              *string
	Category          *string
	Scale             *int
	LowStockThreshold *inventory.Quantity
	Marker            []byte // idempotency marker, optional
}

// PutProduct creates the product or updates the fields given. created tells which. The scale
// cannot change while the product has stock (invalid_state). An update that changes nothing
// leaves the version alone.
func (s *Store) PutProduct(ctx context.Context, spec ProductSpec) (p Product, created bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		created = false
		if err := checkFence(ctx, tx, spec.Partition); err != nil {
			return err
		}
		if err := insertMarker(ctx, tx, spec.Marker, spec.Partition); err != nil {
			return err
		}
		now := nowMicro()
		cur, err := scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE sku = ? FOR UPDATE", spec.SKU))
		if errors.Is(err, sql.ErrNoRows) {
			next, err := spec.apply(Product{SKU: spec.SKU, Partition: spec.Partition, Version: 1, UpdatedAt: now})
			if err != nil {
				return err
			}
			if spec.Name == nil {
				return inventory.Errorf(inventory.CodeValidation, "name is required to create a product").WithDetails(map[string]any{"field": "name"})
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved,
				low_stock_threshold, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 0, 0, ?, 1, ?, ?)`,
				next.SKU, next.Partition, next.Name, next.Category, next.Scale, next.LowStockThreshold, now, now)
			if err != nil {
				return err
			}
			created, p = true, next
			return insertChanges(ctx, tx, change{spec.Partition, spec.SKU, inventory.KindCreate, 0, 0, ""})
		}
		if err != nil {
			return err
		}
		next, err := spec.apply(cur)
		if err != nil {
			return err
		}
		if next.Scale != cur.Scale && (cur.OnHand != 0 || cur.Reserved != 0) {
			return inventory.Errorf(inventory.CodeInvalidState, "scale cannot change while the product has stock").
				WithDetails(map[string]any{"scale": cur.Scale})
		}
		if next == cur {
			p = cur
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE products SET name = ?, category = ?, scale = ?, low_stock_threshold = ?,
			version = version + 1, updated_at = ? WHERE sku = ?`,
			next.Name, next.Category, next.Scale, next.LowStockThreshold, now, spec.SKU); err != nil {
			return err
		}
		p = next
		p.Version, p.UpdatedAt = cur.Version+1, now
		return insertChanges(ctx, tx, change{spec.Partition, spec.SKU, inventory.KindProduct, 0, 0, ""})
	})
	return p, created, err
}

// apply returns cur with the spec's fields set; the threshold is converted with the resulting scale.
func (spec ProductSpec) apply(cur Product) (Product, error) {
	next := cur
	if spec.Name != nil {
		next.Name = *spec.Name
	}
	if spec.Category != nil {
		next.Category = *spec.Category
	}
	if spec.Scale != nil {
		next.Scale = *spec.Scale
	}
	switch {
	case spec.LowStockThreshold != nil:
		t, err := spec.LowStockThreshold.BaseUnits(next.Scale)
		if err != nil {
			return cur, err
		}
		if t < 0 {
			return cur, inventory.Errorf(inventory.CodeValidation, "low_stock_threshold must not be negative")
		}
		next.LowStockThreshold = t
	case next.Scale != cur.Scale:
		// Keep the threshold's value, re-expressed in the new scale.
		d := inventory.Quantity{Units: cur.LowStockThreshold, Scale: cur.Scale}
		t, err := d.BaseUnits(next.Scale)
		if err != nil {
			return cur, inventory.Errorf(inventory.CodeValidation, "low_stock_threshold %s does not fit scale %d; send a new low_stock_threshold", d, next.Scale)
		}
		next.LowStockThreshold = t
	}
	return next, nil
}

// StockChange is an adjustment (Delta) or an absolute set (OnHand) of a product's on_hand.
type StockChange struct {
	SKU             string
	Partition       int
	Delta           *inventory.Quantity // relative change; exactly one of Delta and OnHand is set
	OnHand          *inventory.Quantity // absolute on_hand
	Reason          inventory.ChangeKind
	ExpectedVersion *int64
	Ref             string
	Marker          []byte
}

// ChangeStock applies an adjustment or absolute set in one transaction: the product row is
// locked, the request checked against it (version, scale, on_hand >= reserved), then changed by
// a conditional UPDATE and logged.
func (s *Store) ChangeStock(ctx context.Context, c StockChange) (Product, error) {
	var out Product
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, c.Partition); err != nil {
			return err
		}
		if err := insertMarker(ctx, tx, c.Marker, c.Partition); err != nil {
			return err
		}
		cur, err := scanProduct(tx.QueryRowContext(ctx, "SELECT "+productColumns+" FROM products WHERE sku = ? FOR UPDATE", c.SKU))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", c.SKU)
		}
		if err != nil {
			return err
		}
		if c.ExpectedVersion != nil && *c.ExpectedVersion != cur.Version {
			return inventory.Errorf(inventory.CodeVersionConflict, "expected version %d, current version is %d", *c.ExpectedVersion, cur.Version).
				WithDetails(map[string]any{"current_version": cur.Version})
		}
		var delta int64
		if c.Delta != nil {
			if delta, err = c.Delta.BaseUnits(cur.Scale); err != nil {
				return err
			}
			if delta == 0 {
				return inventory.Errorf(inventory.CodeValidation, "delta must not be zero")
			}
		} else {
			target, err := c.OnHand.BaseUnits(cur.Scale)
			if err != nil {
				return err
			}
			if target < 0 {
				return inventory.Errorf(inventory.CodeValidation, "on_hand must not be negative")
			}
			delta = target - cur.OnHand
		}
		newOnHand := cur.OnHand + delta
		if newOnHand >= inventory.MaxUnits {
			return inventory.Errorf(inventory.CodeValidation, "on_hand would exceed the maximum quantity")
		}
		if newOnHand < cur.Reserved {
			return inventory.Insufficient(inventory.NewShortLine(c.SKU, -delta, cur.Available(), cur.Scale))
		}
		now := nowMicro()
		res, err := tx.ExecContext(ctx, `UPDATE products SET on_hand = on_hand + ?, version = version + 1, updated_at = ?
			WHERE sku = ? AND on_hand + ? >= reserved`, delta, now, c.SKU, delta)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return inventory.Insufficient(inventory.NewShortLine(c.SKU, -delta, cur.Available(), cur.Scale))
		}
		out = cur
		out.OnHand, out.Version, out.UpdatedAt = newOnHand, cur.Version+1, now
		return insertChanges(ctx, tx, change{c.Partition, c.SKU, c.Reason, delta, 0, c.Ref})
	})
	return out, err
}

func nowMicro() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
