package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sort"

	"github.com/shardstock/shardstock/inventory"
)

// First expired, first out: how every on_hand decrease of a lot-tracked product is taken from
// its lots, inside the mutation's own transaction (the afterChanges hook).

// liveLot is a lot with stock, locked by consumeLots.
type liveLot struct {
	code              string
	remaining, taken  int64
	expired, conflict bool
	newConflict       bool
}

// skuLots are the live lots of one SKU in consumption order: unexpired lots by expiry, then
// expired ones (only reached when reserved stock needs them), also by expiry.
type skuLots struct {
	scale int
	lots  []*liveLot
}

// lotWriters are the change kinds written by the lot code itself, which has already moved the
// lot quantities: consumeLots leaves them alone.
var lotWriters = map[inventory.ChangeKind]bool{inventory.KindLotReceive: true, inventory.KindLotExpire: true}

// consumeLots takes on_hand decreases of lot-tracked products from their lots, first expired
// first out, and refuses on_hand increases of lot-tracked products that do not come through a
// lot. It runs in the mutation's transaction after its change rows (afterChanges), where every
// product it touches is already locked by the mutation; each take is logged as a lot_take row
// (written directly, not through insertChanges, which would call back here).
func consumeLots(ctx context.Context, tx *sql.Tx, cs []change) error {
	var skus []any
	seen := map[string]bool{}
	for _, c := range cs {
		if lotRelevant(c) && !seen[c.sku] {
			seen[c.sku] = true
			skus = append(skus, c.sku)
		}
	}
	if len(skus) == 0 {
		return nil
	}
	live, err := lockLiveLots(ctx, tx, skus)
	if err != nil {
		return err
	}
	var rows []change
	for _, c := range cs {
		if !lotRelevant(c) {
			continue
		}
		sl := live[c.sku]
		if c.deltaOnHand > 0 {
			if err := refuseLotTracked(ctx, tx, c.sku, sl != nil); err != nil {
				return err
			}
			continue
		}
		if sl == nil {
			// Not lot-tracked (a lot-tracked product without stock in lots has on_hand 0 and
			// cannot decrease).
			continue
		}
		taken, err := sl.take(c)
		if err != nil {
			return err
		}
		rows = append(rows, taken...)
	}
	if err := saveTakenLots(ctx, tx, live); err != nil {
		return err
	}
	return insertLotRows(ctx, tx, rows)
}

// lotRelevant reports whether a change moves on_hand in a way consumeLots handles: a product's
// stock change not written by the lot code itself.
func lotRelevant(c change) bool {
	return c.sku != "" && c.deltaOnHand != 0 && !lotWriters[c.kind]
}

// refuseLotTracked fails when the product is lot-tracked (has lots; tracked says it has live
// ones): its stock may only be received through a lot.
func refuseLotTracked(ctx context.Context, tx *sql.Tx, sku string, tracked bool) error {
	if !tracked {
		var err error
		if tracked, err = hasLots(ctx, tx, sku); err != nil {
			return err
		}
	}
	if tracked {
		return inventory.Errorf(inventory.CodeValidation, "product %q is lot-tracked: receive stock through POST /v1/products/%s/lots", sku, sku).
			WithDetails(map[string]any{"sku": sku, "reason": "lot_tracked"})
	}
	return nil
}

// take takes the on_hand decrease of c from the lots in consumption order and returns the
// lot_take (and first lot_conflict) rows to log.
func (sl *skuLots) take(c change) ([]change, error) {
	var rows []change
	need := -c.deltaOnHand
	for _, l := range sl.lots {
		if need == 0 {
			break
		}
		q := min(need, l.remaining)
		if q == 0 {
			continue
		}
		l.remaining -= q
		l.taken += q
		need -= q
		rows = append(rows, change{c.partition, c.sku, inventory.KindLotTake, 0, 0, l.code + ":" + inventory.FormatUnits(q, sl.scale)})
		if l.expired && !l.conflict {
			l.conflict, l.newConflict = true, true
			rows = append(rows, change{c.partition, c.sku, inventory.KindLotConflict, 0, 0, l.code + ":" + inventory.FormatUnits(q, sl.scale)})
		}
	}
	if need > 0 {
		return nil, fmt.Errorf("consume lots of %s: lots hold %d base units less than the on_hand decrease (lot ledger out of step)", c.sku, need)
	}
	return rows, nil
}

// saveTakenLots writes what was taken from each lot, SKU by SKU in order, each a conditional
// UPDATE under the lock.
func saveTakenLots(ctx context.Context, tx *sql.Tx, live map[string]*skuLots) error {
	keys := make([]string, 0, len(live))
	for sku := range live {
		keys = append(keys, sku)
	}
	sort.Strings(keys)
	for _, sku := range keys {
		for _, l := range live[sku].lots {
			if l.taken == 0 {
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE lots SET remaining = remaining - ?, updated_at = UTC_TIMESTAMP(6),
				conflict_at = IF(?, COALESCE(conflict_at, UTC_TIMESTAMP(6)), conflict_at) WHERE sku = ? AND lot_code = ? AND remaining >= ?`,
				l.taken, l.newConflict, sku, l.code, l.taken)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return fmt.Errorf("consume lot %s/%s: conditional update matched %d rows under lock", sku, l.code, n)
			}
		}
	}
	return nil
}

// lockLiveLots locks the lots with stock of the SKUs and returns them in consumption order.
func lockLiveLots(ctx context.Context, tx *sql.Tx, skus []any) (map[string]*skuLots, error) {
	rows, err := tx.QueryContext(ctx, `SELECT l.sku, l.lot_code, l.remaining, l.expires_at <= UTC_TIMESTAMP(6), l.conflict_at IS NOT NULL, p.scale
		FROM lots l JOIN products p ON p.sku = l.sku
		WHERE l.sku IN (`+placeholders(len(skus))+`) AND l.remaining > 0 ORDER BY l.sku, l.expires_at, l.lot_code FOR UPDATE`, skus...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]*skuLots{}
	for rows.Next() {
		var sku string
		var scale int
		l := &liveLot{}
		if err := rows.Scan(&sku, &l.code, &l.remaining, &l.expired, &l.conflict, &scale); err != nil {
			return nil, err
		}
		sl := out[sku]
		if sl == nil {
			sl = &skuLots{scale: scale}
			out[sku] = sl
		}
		sl.lots = append(sl.lots, l)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, sl := range out {
		// Already by expiry; move expired lots behind the unexpired ones, keeping that order.
		sort.SliceStable(sl.lots, func(i, j int) bool { return !sl.lots[i].expired && sl.lots[j].expired })
	}
	return out, nil
}

// hasLots reports whether the product has any lot row (is lot-tracked), under a shared lock so
// that it reads the latest committed state.
func hasLots(ctx context.Context, tx *sql.Tx, sku string) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, "SELECT 1 FROM lots WHERE sku = ? LIMIT 1 LOCK IN SHARE MODE", sku).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// insertLotRows writes lot_take and lot_conflict rows to the change log directly: they carry no
// stock delta, so the afterChanges hook has nothing to derive from them.
func insertLotRows(ctx context.Context, tx *sql.Tx, rows []change) error {
	return insertChangeRows(ctx, tx, rows...)
}
