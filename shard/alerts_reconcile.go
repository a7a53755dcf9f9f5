package shard

import (
	"context"
	"database/sql"

	"github.com/shardstock/shardstock/inventory"
)

// ReconcileAlerts repairs the alerts of this shard's owned products that are missing or stale:
// a product low or out of stock without its open alert, an open alert of a product that no
// longer qualifies, a product naming an alert that is gone, an open alert its product does
// not name (after a bulk load, a threshold or stock change made in SQL, rows deleted by hand).
// Candidates are found with plain reads, batch at a time; each is repaired in its own small
// transaction that locks the product row and re-evaluates it, so concurrent mutations and
// other gateways' passes are safe. It returns what it fixed.
func (u *Upkeep) ReconcileAlerts(ctx context.Context, batch int) (AlertRepairs, error) {
	var total AlertRepairs
	for _, q := range []string{staleProductsQuery, orphanAlertsQuery} {
		after := ""
		for {
			cands, err := u.alertCandidates(ctx, q, after, batch)
			if err != nil {
				return total, err
			}
			for _, c := range cands {
				r, err := u.repairAlerts(ctx, c.sku, c.partition)
				if inventory.IsCode(err, inventory.CodePartitionMoved) {
					continue // moved away since the scan: its new owner repairs it
				}
				if err != nil {
					return total, err
				}
				total = total.Plus(r)
			}
			if len(cands) < batch {
				break
			}
			after = cands[len(cands)-1].sku
		}
	}
	return total, nil
}

// staleProductsQuery finds owned products whose alert record disagrees with their stock:
// for each kind, an alert is wanted (see alertsWanted) and the product names an active alert
// of that kind, or it is not wanted and the product names none.
const staleProductsQuery = `SELECT p.sku, p.partition_id FROM products p FORCE INDEX (PRIMARY)
	STRAIGHT_JOIN partition_fence f ON f.partition_id = p.partition_id AND f.state = 'owned'
	LEFT JOIN stock_alerts lo ON lo.id = p.low_alert_id
	LEFT JOIN stock_alerts oo ON oo.id = p.out_alert_id
	WHERE p.sku > ? AND NOT (
		IF(p.low_stock_threshold > 0 AND p.available <= p.low_stock_threshold,
			COALESCE(lo.status <> 'resolved' AND lo.kind = 'low_stock' AND lo.sku = p.sku, FALSE),
			p.low_alert_id IS NULL)
		AND IF(p.available <= 0,
			COALESCE(oo.status <> 'resolved' AND oo.kind = 'out_of_stock' AND oo.sku = p.sku, FALSE),
			p.out_alert_id IS NULL))
	ORDER BY p.sku LIMIT ?`

// orphanAlertsQuery finds owned active alerts their product does not name (or whose product
// does not exist).
const orphanAlertsQuery = `SELECT a.sku, a.partition_id FROM stock_alerts a FORCE INDEX (stock_alerts_status)
	STRAIGHT_JOIN partition_fence f ON f.partition_id = a.partition_id AND f.state = 'owned'
	LEFT JOIN products p ON p.sku = a.sku
	WHERE a.status IN ('open', 'acknowledged') AND a.sku > ?
		AND (p.sku IS NULL OR NOT (a.id <=> IF(a.kind = 'low_stock', p.low_alert_id, p.out_alert_id)))
	ORDER BY a.sku LIMIT ?`

type alertCandidate struct {
	sku       string
	partition int
}

func (u *Upkeep) alertCandidates(ctx context.Context, q, after string, limit int) ([]alertCandidate, error) {
	var out []alertCandidate
	err := u.s.scanRows(ctx, u.s.db, q, []any{after, limit}, func(rows *sql.Rows) error {
		var c alertCandidate
		err := rows.Scan(&c.sku, &c.partition)
		out = append(out, c)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// repairAlerts re-evaluates the alerts of one SKU in one transaction: it locks the product
// row, reads the SKU's active alerts (after the lock: every alert write of a product holds
// it), adopts them as the product's record, then opens and resolves as maintainAlerts does.
// Active alerts of a product that does not exist are resolved.
func (u *Upkeep) repairAlerts(ctx context.Context, sku string, partition int) (AlertRepairs, error) {
	var r AlertRepairs
	err := u.s.inTx(ctx, func(tx *sql.Tx) error {
		r = AlertRepairs{}
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		ps, err := lockAlertProducts(ctx, tx, []string{sku})
		if err != nil {
			return err
		}
		active, err := activeAlerts(ctx, tx, sku)
		if err != nil {
			return err
		}
		now := nowMicro()
		if len(ps) == 0 {
			for _, id := range active {
				ok, err := resolveAlert(ctx, tx, alertProduct{sku: sku, partition: partition}, id, now)
				if err != nil {
					return err
				}
				if ok {
					r.Resolved++
				}
			}
			return nil
		}
		p := ps[0]
		cur := p
		cur.lowAlertID, cur.outAlertID = active[inventory.AlertLowStock], active[inventory.AlertOutOfStock]
		next, n, err := applyAlerts(ctx, tx, cur, now)
		if err != nil {
			return err
		}
		r = r.Plus(n)
		// A kind whose record was wrong and that nothing opened or resolved was relinked.
		if next.lowAlertID == cur.lowAlertID && cur.lowAlertID != p.lowAlertID {
			r.Relinked++
		}
		if next.outAlertID == cur.outAlertID && cur.outAlertID != p.outAlertID {
			r.Relinked++
		}
		if err := saveAlertIDs(ctx, tx, p, next); err != nil {
			return err
		}
		if n.Opened+n.Resolved == 0 && (p.lowAlertID != next.lowAlertID || p.outAlertID != next.outAlertID) {
			// Only the product row changed: log it so that a resharding catch-up re-copies it.
			return logAlertChange(ctx, tx, p.partition, sku, inventory.KindAlertSync, "")
		}
		return nil
	})
	return r, err
}

// activeAlerts returns the ids of the SKU's open or acknowledged alerts by kind.
func activeAlerts(ctx context.Context, tx *sql.Tx, sku string) (map[inventory.AlertKind]string, error) {
	rows, err := tx.QueryContext(ctx, "SELECT kind, id FROM stock_alerts WHERE sku = ? AND open_flag = 1", sku)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[inventory.AlertKind]string{}
	for rows.Next() {
		var kind inventory.AlertKind
		var id string
		if err := rows.Scan(&kind, &id); err != nil {
			return nil, err
		}
		out[kind] = id
	}
	return out, rows.Err()
}
