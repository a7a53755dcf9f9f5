package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Lot tracking. A product is lot-tracked once it has any row in lots (its first receive through
// ReceiveLot); from then on its on_hand equals the sum of its lots' remaining quantities:
//   - ReceiveLot adds to on_hand and to one lot (change kind lot_receive);
//   - every other on_hand decrease (commit, sale, negative adjustment, absolute set downward)
//     takes from the lots first expired first out, inside the mutation's transaction
//     (consumeLots, called by the afterChanges hook), logging one lot_take row per lot taken;
//   - other on_hand increases are refused: lot-tracked stock arrives only through a lot;
//   - SweepExpiredLots removes expired quantity with expire changes, never below reserved.
//
// Change-log refs of lot rows: lot_receive and expire carry the lot code (the quantity is the
// row's delta_on_hand); lot_take and lot_conflict carry "<lot code>:<quantity>" with the
// quantity printed exactly in the product's scale. Lot codes cannot contain ':'.

// MaxLotCodeLength is the longest lot code accepted.
const MaxLotCodeLength = 64

// ValidateLotCode checks that code is 1–64 characters of A-Z a-z 0-9 . _ - /.
func ValidateLotCode(code string) error {
	if len(code) == 0 || len(code) > MaxLotCodeLength {
		return inventory.Errorf(inventory.CodeValidation, "lot must be 1-%d characters", MaxLotCodeLength).
			WithDetails(map[string]any{"field": "lot"})
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '/') {
			return inventory.Errorf(inventory.CodeValidation, "lot %q may only contain A-Z a-z 0-9 . _ - /", code).
				WithDetails(map[string]any{"field": "lot"})
		}
	}
	return nil
}

// Lot is one lot of a lot-tracked product, quantities in base units of the product's scale.
type Lot struct {
	SKU        string
	Code       string
	Received   int64 // total ever received into the lot
	Remaining  int64
	ExpiresAt  time.Time
	ReceivedAt time.Time // first receipt
	Expired    bool      // past expires_at by the shard's clock when read
	Conflict   bool      // expired quantity was held back by reservations (or sold)
}

// LotReceipt receives Quantity into lot Code of a product (a new lot, or more of an existing
// lot with the same expiry).
type LotReceipt struct {
	SKU       string
	Partition int
	Code      string
	Quantity  inventory.Quantity
	ExpiresAt time.Time
	Marker    []byte // idempotency marker, optional
}

const lotColumns = "sku, lot_code, received, remaining, expires_at, received_at, expires_at <= UTC_TIMESTAMP(6), conflict_at IS NOT NULL"

func scanLot(row interface{ Scan(...any) error }) (Lot, error) {
	var l Lot
	err := row.Scan(&l.SKU, &l.Code, &l.Received, &l.Remaining, &l.ExpiresAt, &l.ReceivedAt, &l.Expired, &l.Conflict)
	return l, err
}

// ReceiveLot receives a lot in one transaction: fence, product locked, on_hand += quantity, the
// lot inserted (created = true) or increased, and a lot_receive change. The quantity must be
// positive in the product's scale and expires_at in the future (shard clock). A code that exists
// with another expiry is invalid_state; so is a first lot for a product that holds stock not
// tracked in lots (set its on_hand to 0 first).
func (s *Store) ReceiveLot(ctx context.Context, r LotReceipt) (p Product, lot Lot, created bool, err error) {
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		created = false
		if err := checkFence(ctx, tx, r.Partition); err != nil {
			return err
		}
		if err := insertMarker(ctx, tx, r.Marker, r.Partition); err != nil {
			return err
		}
		var now time.Time
		cur, err := scanProduct(scanWithExtra{tx.QueryRowContext(ctx, "SELECT "+productColumns+", UTC_TIMESTAMP(6) FROM products WHERE sku = ? FOR UPDATE", r.SKU), &now})
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", r.SKU)
		}
		if err != nil {
			return err
		}
		qty, err := r.Quantity.BaseUnits(cur.Scale)
		if err != nil {
			return err
		}
		if qty <= 0 {
			return inventory.Errorf(inventory.CodeValidation, "quantity must be greater than zero").WithDetails(map[string]any{"field": "quantity"})
		}
		if cur.OnHand+qty >= inventory.MaxUnits {
			return inventory.Errorf(inventory.CodeValidation, "on_hand would exceed the maximum quantity").WithDetails(map[string]any{"field": "quantity"})
		}
		expires := r.ExpiresAt.UTC().Truncate(time.Microsecond)
		if !expires.After(now) {
			return inventory.Errorf(inventory.CodeValidation, "expires_at must be in the future").WithDetails(map[string]any{"field": "expires_at"})
		}
		lot, err = scanLot(tx.QueryRowContext(ctx, "SELECT "+lotColumns+" FROM lots WHERE sku = ? AND lot_code = ? FOR UPDATE", r.SKU, r.Code))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if cur.OnHand != 0 {
				var one int
				err := tx.QueryRowContext(ctx, "SELECT 1 FROM lots WHERE sku = ? LIMIT 1 LOCK IN SHARE MODE", r.SKU).Scan(&one)
				if errors.Is(err, sql.ErrNoRows) {
					return inventory.Errorf(inventory.CodeInvalidState, "product %q holds stock that is not in lots; set its on_hand to 0 before receiving lots", r.SKU).
						WithDetails(map[string]any{"on_hand": inventory.FormatUnits(cur.OnHand, cur.Scale)})
				}
				if err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO lots (sku, lot_code, partition_id, expires_at, received, remaining, conflict_at,
				received_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?)`, r.SKU, r.Code, r.Partition, expires, qty, qty, now, now); err != nil {
				return err
			}
			created = true
			lot = Lot{SKU: r.SKU, Code: r.Code, Received: qty, Remaining: qty, ExpiresAt: expires, ReceivedAt: now}
		case err != nil:
			return err
		case !lot.ExpiresAt.Equal(expires):
			return inventory.Errorf(inventory.CodeInvalidState, "lot %q of %q exists with another expiry", r.Code, r.SKU).
				WithDetails(map[string]any{"lot": r.Code, "expires_at": lot.ExpiresAt.UTC().Format(time.RFC3339Nano)})
		default:
			if _, err := tx.ExecContext(ctx, "UPDATE lots SET received = received + ?, remaining = remaining + ?, updated_at = ? WHERE sku = ? AND lot_code = ?",
				qty, qty, now, r.SKU, r.Code); err != nil {
				return err
			}
			lot.Received += qty
			lot.Remaining += qty
		}
		res, err := tx.ExecContext(ctx, "UPDATE products SET on_hand = on_hand + ?, version = version + 1, updated_at = ? WHERE sku = ?", qty, now, r.SKU)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return fmt.Errorf("receive lot %s/%s: product update matched %d rows under lock", r.SKU, r.Code, n)
		}
		p = cur
		p.OnHand, p.Version, p.UpdatedAt = cur.OnHand+qty, cur.Version+1, now
		return insertChanges(ctx, tx, change{r.Partition, r.SKU, inventory.KindLotReceive, qty, 0, r.Code})
	})
	return p, lot, created, err
}

// ListLots reads a product and its lots (ordered by expiry, then code) from one consistent
// snapshot, so on_hand and the lots agree. Depleted lots are included only with includeEmpty; at
// most limit lots are returned. Like every read it checks the fence.
func (s *Store) ListLots(ctx context.Context, sku string, partition int, includeEmpty bool, limit int) (Product, []Lot, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return Product{}, nil, s.classify(err)
	}
	defer tx.Rollback()
	p, err := s.ownedProduct(ctx, tx, sku, partition)
	if err != nil {
		return Product{}, nil, err
	}
	q := "SELECT " + lotColumns + " FROM lots WHERE sku = ?"
	if !includeEmpty {
		q += " AND remaining > 0"
	}
	rows, err := tx.QueryContext(ctx, q+" ORDER BY expires_at, lot_code LIMIT ?", sku, limit)
	if err != nil {
		return Product{}, nil, s.classify(err)
	}
	defer rows.Close()
	lots := []Lot{}
	for rows.Next() {
		l, err := scanLot(rows)
		if err != nil {
			return Product{}, nil, s.classify(err)
		}
		lots = append(lots, l)
	}
	if err := rows.Err(); err != nil {
		return Product{}, nil, s.classify(err)
	}
	return p, lots, nil
}

// LotSweep counts what one expiry sweep did on a shard.
type LotSweep struct {
	Products  int // products with expired stock examined
	Expired   int // lots from which expired quantity was removed (one expire change each)
	Conflicts int // lots newly found holding expired quantity that reserved stock needs
}

// Plus returns the sum of s and o.
func (s LotSweep) Plus(o LotSweep) LotSweep {
	return LotSweep{s.Products + o.Products, s.Expired + o.Expired, s.Conflicts + o.Conflicts}
}

// SweepExpiredLots removes the expired quantity of every lot-tracked product in the partitions
// this shard owns, one transaction per product (see expireProductLots). Products are visited in
// SKU order, batch at a time; a product whose partition moved meanwhile is skipped.
func (u *Upkeep) SweepExpiredLots(ctx context.Context, batch int) (LotSweep, error) {
	var out LotSweep
	after := ""
	for {
		skus, parts, err := u.expiredLotProducts(ctx, after, batch)
		if err != nil {
			return out, err
		}
		for i, sku := range skus {
			if err := ctx.Err(); err != nil {
				return out, err
			}
			r, err := u.expireProductLots(ctx, sku, parts[i])
			if inventory.IsCode(err, inventory.CodePartitionMoved) || inventory.IsCode(err, inventory.CodeNotFound) {
				continue
			}
			if err != nil {
				return out, err
			}
			out = out.Plus(LotSweep{Products: 1, Expired: r.Expired, Conflicts: r.Conflicts})
		}
		if len(skus) < batch {
			return out, nil
		}
		after = skus[len(skus)-1]
	}
}

// expiredLotProducts lists products (after the given SKU) of owned partitions that have a lot
// past its expiry with stock left.
func (u *Upkeep) expiredLotProducts(ctx context.Context, after string, limit int) ([]string, []int, error) {
	var skus []string
	var parts []int
	err := u.s.scanRows(ctx, u.s.db, `SELECT l.sku, MIN(l.partition_id) FROM lots l
		JOIN partition_fence f ON f.partition_id = l.partition_id AND f.state = 'owned'
		WHERE l.live_expires_at <= UTC_TIMESTAMP(6) AND l.sku > ? GROUP BY l.sku ORDER BY l.sku LIMIT ?`, []any{after, limit},
		func(rows *sql.Rows) error {
			var sku string
			var p int
			err := rows.Scan(&sku, &p)
			skus, parts = append(skus, sku), append(parts, p)
			return err
		})
	if err != nil {
		return nil, nil, err
	}
	return skus, parts, nil
}

// expireProductLots removes a product's expired lot quantity in one transaction: fence, product
// locked, its expired lots locked, then from each (earliest first) min(remaining, on_hand -
// reserved) is removed with an expire change. Quantity that reserved stock needs stays: the
// first time a lot is found so, conflict_at is set and a lot_conflict row logged.
func (u *Upkeep) expireProductLots(ctx context.Context, sku string, partition int) (LotSweep, error) {
	var out LotSweep
	err := u.s.inTx(ctx, func(tx *sql.Tx) error {
		out = LotSweep{}
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		var scale int
		var onHand, reserved int64
		err := tx.QueryRowContext(ctx, "SELECT scale, on_hand, reserved FROM products WHERE sku = ? FOR UPDATE", sku).Scan(&scale, &onHand, &reserved)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", sku)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT lot_code, remaining, conflict_at IS NOT NULL FROM lots
			WHERE sku = ? AND remaining > 0 AND expires_at <= UTC_TIMESTAMP(6) ORDER BY expires_at, lot_code FOR UPDATE`, sku)
		if err != nil {
			return err
		}
		var lots []liveLot
		for rows.Next() {
			var l liveLot
			if err := rows.Scan(&l.code, &l.remaining, &l.conflict); err != nil {
				rows.Close()
				return err
			}
			lots = append(lots, l)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		free := max(onHand-reserved, 0)
		var removed int64
		var expires, conflicts []change
		for _, l := range lots {
			take := min(l.remaining, free)
			left := l.remaining - take
			newConflict := left > 0 && !l.conflict
			if take == 0 && !newConflict {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE lots SET remaining = remaining - ?, updated_at = UTC_TIMESTAMP(6),
				conflict_at = IF(?, UTC_TIMESTAMP(6), conflict_at) WHERE sku = ? AND lot_code = ?`, take, newConflict, sku, l.code); err != nil {
				return err
			}
			if take > 0 {
				free -= take
				removed += take
				expires = append(expires, change{partition, sku, inventory.KindLotExpire, -take, 0, l.code})
				out.Expired++
			}
			if newConflict {
				conflicts = append(conflicts, change{partition, sku, inventory.KindLotConflict, 0, 0, l.code + ":" + inventory.FormatUnits(left, scale)})
				out.Conflicts++
			}
		}
		if removed > 0 {
			res, err := tx.ExecContext(ctx, `UPDATE products SET on_hand = on_hand - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
				WHERE sku = ? AND on_hand - ? >= reserved`, removed, sku, removed)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("expire lots of %s: conditional update matched %d rows under lock", sku, n)
			}
		}
		// The expire rows go through insertChanges (derived state such as alerts follows them;
		// consumeLots skips them, the lots are already decremented); conflicts carry no delta.
		if err := insertChanges(ctx, tx, expires...); err != nil {
			return err
		}
		return insertLotRows(ctx, tx, conflicts)
	})
	return out, err
}
