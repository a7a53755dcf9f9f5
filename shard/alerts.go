package shard

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Low-stock alerts.
//
// A product has an open low_stock alert while 0 <= available <= low_stock_threshold (with a
// threshold above zero) and an open out_of_stock alert while available = 0. The two are
// independent: a product that runs out keeps its low_stock alert and gains an out_of_stock
// one, so bouncing between 0 and 1 unit opens and resolves only out_of_stock alerts, and a
// resolution always means the stock got better. A threshold of 0 means "no low-stock level":
// only out_of_stock alerts.
//
// Alerts are maintained by maintainAlerts inside the transaction of every mutation, after its
// change rows: the product row is already locked there, and it names its open alerts
// (products.low_alert_id, out_alert_id), so deciding costs one read of a locked row and
// stock_alerts is touched only when an alert opens or resolves. Every alert write logs a
// change row (zero deltas, ref = alert id) with one of the kinds below, written directly (not
// through insertChanges, which would call back into afterChanges). The event relay turns
// alert:low, alert:out and alert:resolved into stock.low, stock.out and stock.restored;
// alert:ack and alert:sync exist so that the resharding catch-up re-copies the rows they touch.

// Alert is a stock_alerts row with its product's current figures.
type Alert struct {
	ID        string
	Partition int
	SKU       string
	Kind      inventory.AlertKind
	Status    inventory.AlertStatus
	// The product's scale, availability and threshold (base units) when the alert opened.
	ScaleAtOpen     int
	AvailableAtOpen int64
	ThresholdAtOpen int64
	OpenedAt        time.Time
	AcknowledgedAt  *time.Time
	ResolvedAt      *time.Time
	UpdatedAt       time.Time
	// The product now (zero values when the product no longer exists).
	Category          string
	Scale             int
	Available         int64
	LowStockThreshold int64
}

// AlertRank orders alert kinds by urgency: out_of_stock (0) before low_stock (1).
func AlertRank(kind inventory.AlertKind) int {
	if kind == inventory.AlertOutOfStock {
		return 0
	}
	return 1
}

// alertsWanted says which alerts a product with this availability and threshold must have open.
func alertsWanted(available, threshold int64) (low, out bool) {
	return threshold > 0 && available <= threshold, available <= 0
}

var alertIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newAlertID makes a random alert id that encodes the product's partition, like reservation
// ids: "a", five partition digits, 24 base32hex characters.
func newAlertID(partition int) string {
	tail := make([]byte, 15)
	_, _ = rand.Read(tail)
	return fmt.Sprintf("a%05d", partition) + alertIDEncoding.EncodeToString(tail)
}

// AlertPartition returns the partition an alert id encodes (false when the id is malformed).
func AlertPartition(id string) (int, bool) {
	if len(id) != 30 || id[0] != 'a' {
		return 0, false
	}
	p, err := strconv.Atoi(id[1:6])
	if err != nil || p < 0 {
		return 0, false
	}
	for _, c := range id[6:] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'V') {
			return 0, false
		}
	}
	return p, true
}

// alertProduct is what alert maintenance reads of a (locked) product row. Empty ids mean no
// open alert of that kind.
type alertProduct struct {
	sku                    string
	partition, scale       int
	available, threshold   int64
	lowAlertID, outAlertID string
}

const alertProductColumns = "sku, partition_id, scale, available, low_stock_threshold, COALESCE(low_alert_id, ''), COALESCE(out_alert_id, '')"

// lockAlertProducts reads the products with the given SKUs FOR UPDATE, in SKU order. Inside a
// mutation they are locked already; the locking read makes sure the row is the latest.
func lockAlertProducts(ctx context.Context, tx *sql.Tx, skus []string) ([]alertProduct, error) {
	args := make([]any, len(skus))
	for i, s := range skus {
		args[i] = s
	}
	rows, err := tx.QueryContext(ctx, "SELECT "+alertProductColumns+" FROM products WHERE sku IN ("+placeholders(len(skus))+
		") ORDER BY sku FOR UPDATE", args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []alertProduct
	for rows.Next() {
		var p alertProduct
		if err := rows.Scan(&p.sku, &p.partition, &p.scale, &p.available, &p.threshold, &p.lowAlertID, &p.outAlertID); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// alertSKUs returns the distinct SKUs whose availability or threshold the changes may have
// moved: stock deltas, creations and product updates. Header rows (no SKU) and zero-delta rows
// such as tombstones cannot change an alert and do not lock their product.
func alertSKUs(cs []change) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range cs {
		if c.sku == "" || seen[c.sku] {
			continue
		}
		if c.deltaOnHand != 0 || c.deltaReserved != 0 || c.kind == inventory.KindCreate || c.kind == inventory.KindProduct {
			seen[c.sku] = true
			out = append(out, c.sku)
		}
	}
	sort.Strings(out)
	return out
}

// maintainAlerts opens and resolves low-stock alerts for the SKUs the changes touched.
func maintainAlerts(ctx context.Context, tx *sql.Tx, cs []change) error {
	skus := alertSKUs(cs)
	if len(skus) == 0 {
		return nil
	}
	ps, err := lockAlertProducts(ctx, tx, skus)
	if err != nil {
		return err
	}
	var now time.Time
	for _, p := range ps {
		low, out := alertsWanted(p.available, p.threshold)
		if low == (p.lowAlertID != "") && out == (p.outAlertID != "") {
			continue // the common case: nothing opens or resolves
		}
		if now.IsZero() {
			now = nowMicro()
		}
		next, _, err := applyAlerts(ctx, tx, p, now)
		if err != nil {
			return err
		}
		if err := saveAlertIDs(ctx, tx, p, next); err != nil {
			return err
		}
	}
	return nil
}

// AlertRepairs counts what alert maintenance did: alerts opened and resolved, and products
// whose record of their open alerts was repaired without an alert changing (relinked).
type AlertRepairs struct {
	Opened, Resolved, Relinked int
}

// Total is the number of repairs of every kind.
func (r AlertRepairs) Total() int { return r.Opened + r.Resolved + r.Relinked }

// Plus returns the sum of r and o.
func (r AlertRepairs) Plus(o AlertRepairs) AlertRepairs {
	return AlertRepairs{r.Opened + o.Opened, r.Resolved + o.Resolved, r.Relinked + o.Relinked}
}

// applyAlerts brings p's alerts in line with its availability and threshold, trusting p's
// alert ids: resolutions first (out_of_stock, then low_stock), then openings (low_stock, then
// out_of_stock), so the change log reads in the order the stock moved. It returns p with the
// ids it now has open; the caller stores them.
func applyAlerts(ctx context.Context, tx *sql.Tx, p alertProduct, now time.Time) (alertProduct, AlertRepairs, error) {
	var n AlertRepairs
	next := p
	low, out := alertsWanted(p.available, p.threshold)
	for _, x := range []struct {
		want bool
		id   *string
	}{{out, &next.outAlertID}, {low, &next.lowAlertID}} {
		if x.want || *x.id == "" {
			continue
		}
		resolved, err := resolveAlert(ctx, tx, p, *x.id, now)
		if err != nil {
			return p, n, err
		}
		if resolved {
			n.Resolved++
		} else {
			n.Relinked++ // the product named an alert that is gone or already resolved
		}
		*x.id = ""
	}
	for _, x := range []struct {
		want bool
		kind inventory.AlertKind
		id   *string
	}{{low, inventory.AlertLowStock, &next.lowAlertID}, {out, inventory.AlertOutOfStock, &next.outAlertID}} {
		if !x.want || *x.id != "" {
			continue
		}
		id, opened, err := openAlert(ctx, tx, p, x.kind, now)
		if err != nil {
			return p, n, err
		}
		if opened {
			n.Opened++
		} else {
			n.Relinked++
		}
		*x.id = id
	}
	return next, n, nil
}

// openAlert inserts an open alert of the kind for p and logs it. When an open alert of that
// kind exists already (written around the product's record of it), that one is adopted and
// opened is false.
func openAlert(ctx context.Context, tx *sql.Tx, p alertProduct, kind inventory.AlertKind, now time.Time) (id string, opened bool, err error) {
	id = newAlertID(p.partition)
	_, err = tx.ExecContext(ctx, `INSERT INTO stock_alerts (id, partition_id, sku, kind, status, scale, available_at_open,
		threshold, opened_at, updated_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?, ?)`,
		id, p.partition, p.sku, kind, p.scale, p.available, p.threshold, now, now)
	if isDuplicate(err) {
		err = tx.QueryRowContext(ctx, "SELECT id FROM stock_alerts WHERE sku = ? AND kind = ? AND open_flag = 1 FOR UPDATE", p.sku, kind).Scan(&id)
		return id, false, err
	}
	if err != nil {
		return "", false, err
	}
	ck := inventory.KindAlertLow
	if kind == inventory.AlertOutOfStock {
		ck = inventory.KindAlertOut
	}
	return id, true, logAlertChange(ctx, tx, p.partition, p.sku, ck, id)
}

// resolveAlert resolves the alert id of p and logs it; false when it was not active.
func resolveAlert(ctx context.Context, tx *sql.Tx, p alertProduct, id string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `UPDATE stock_alerts SET status = 'resolved', resolved_at = ?, updated_at = ?
		WHERE id = ? AND sku = ? AND status <> 'resolved'`, now, now, id, p.sku)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	return true, logAlertChange(ctx, tx, p.partition, p.sku, inventory.KindAlertResolved, id)
}

// saveAlertIDs stores next's open alert ids on the product row when they differ from cur's.
// It is bookkeeping: the product's version and updated_at stay as they are.
func saveAlertIDs(ctx context.Context, tx *sql.Tx, cur, next alertProduct) error {
	if cur.lowAlertID == next.lowAlertID && cur.outAlertID == next.outAlertID {
		return nil
	}
	_, err := tx.ExecContext(ctx, "UPDATE products SET low_alert_id = NULLIF(?, ''), out_alert_id = NULLIF(?, '') WHERE sku = ?",
		next.lowAlertID, next.outAlertID, next.sku)
	return err
}

// logAlertChange writes an alert's change row (zero deltas) without the afterChanges hook,
// which is what is running.
func logAlertChange(ctx context.Context, tx *sql.Tx, partition int, sku string, kind inventory.ChangeKind, ref string) error {
	return insertChangeRows(ctx, tx, change{partition, sku, kind, 0, 0, ref})
}

// alertColumns reads an alert joined (LEFT JOIN) with its product p.
const alertColumns = `a.id, a.partition_id, a.sku, a.kind, a.status, a.scale, a.available_at_open, a.threshold,
	a.opened_at, a.acknowledged_at, a.resolved_at, a.updated_at,
	COALESCE(p.category, ''), COALESCE(p.scale, a.scale), COALESCE(p.available, 0), COALESCE(p.low_stock_threshold, 0)`

func scanAlert(row interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var ack, res sql.NullTime
	err := row.Scan(&a.ID, &a.Partition, &a.SKU, &a.Kind, &a.Status, &a.ScaleAtOpen, &a.AvailableAtOpen, &a.ThresholdAtOpen,
		&a.OpenedAt, &ack, &res, &a.UpdatedAt, &a.Category, &a.Scale, &a.Available, &a.LowStockThreshold)
	if ack.Valid {
		a.AcknowledgedAt = &ack.Time
	}
	if res.Valid {
		a.ResolvedAt = &res.Time
	}
	return a, err
}

// AcknowledgeAlert marks an open alert of the given partition acknowledged and returns it.
// Acknowledging an acknowledged alert changes nothing (idempotent); a resolved alert is
// invalid_state, an unknown one not_found.
func (s *Store) AcknowledgeAlert(ctx context.Context, id string, partition int) (Alert, error) {
	var out Alert
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		var sku string
		var status inventory.AlertStatus
		err := tx.QueryRowContext(ctx, "SELECT sku, status FROM stock_alerts WHERE id = ? AND partition_id = ? FOR UPDATE", id, partition).
			Scan(&sku, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "alert %q not found", id)
		}
		if err != nil {
			return err
		}
		switch status {
		case inventory.AlertResolved:
			return inventory.Errorf(inventory.CodeInvalidState, "alert %s is resolved", id).WithDetails(map[string]any{"status": status})
		case inventory.AlertOpen:
			now := nowMicro()
			if _, err := tx.ExecContext(ctx, "UPDATE stock_alerts SET status = 'acknowledged', acknowledged_at = ?, updated_at = ? WHERE id = ?",
				now, now, id); err != nil {
				return err
			}
			if err := logAlertChange(ctx, tx, partition, sku, inventory.KindAlertAck, id); err != nil {
				return err
			}
		}
		out, err = scanAlert(tx.QueryRowContext(ctx, "SELECT "+alertColumns+" FROM stock_alerts a LEFT JOIN products p ON p.sku = a.sku WHERE a.id = ?", id))
		return err
	})
	return out, err
}

// AlertFilter selects alerts by status (any of Statuses) and, when Category is set, by their
// product's category.
type AlertFilter struct {
	Statuses []inventory.AlertStatus
	Category *string
}

// AlertPosition is the sort key of an alert in the alert listing, the position a page
// continues after: kind rank (AlertRank), available - low_stock_threshold in millionths (an
// integer, as decimal text), SKU, id.
type AlertPosition struct {
	Rank      int
	GapMicros string
	SKU       string
	ID        string
}

// AlertPage returns up to limit owned alerts that match the filter, most urgent first (see
// AlertPosition), after the given position when it is not nil. Alerts whose product does not
// exist are not listed (the reconcile pass resolves them).
func (s *Store) AlertPage(ctx context.Context, f AlertFilter, after *AlertPosition, limit int) ([]Alert, error) {
	if len(f.Statuses) == 0 {
		return []Alert{}, nil
	}
	const rank = "IF(a.kind = 'out_of_stock', 0, 1)"
	const gap = "p.low_stock_gap_micros"
	var b strings.Builder
	b.WriteString("SELECT " + alertColumns + ` FROM stock_alerts a FORCE INDEX (stock_alerts_status)
		STRAIGHT_JOIN partition_fence f ON f.partition_id = a.partition_id AND f.state = 'owned'
		JOIN products p ON p.sku = a.sku
		WHERE a.status IN (` + placeholders(len(f.Statuses)) + ")")
	var args []any
	for _, st := range f.Statuses {
		args = append(args, st)
	}
	if f.Category != nil {
		b.WriteString(" AND p.category = ?")
		args = append(args, *f.Category)
	}
	if after != nil {
		b.WriteString(" AND (" + rank + " > ? OR (" + rank + " = ? AND (" + gap + " > CAST(? AS DECIMAL(22,0)) OR (" + gap +
			" = CAST(? AS DECIMAL(22,0)) AND (a.sku > ? OR (a.sku = ? AND a.id > ?))))))")
		args = append(args, after.Rank, after.Rank, after.GapMicros, after.GapMicros, after.SKU, after.SKU, after.ID)
	}
	b.WriteString(" ORDER BY " + rank + ", " + gap + ", a.sku, a.id LIMIT ?")
	args = append(args, limit)
	out := []Alert{}
	err := s.scanRows(ctx, s.db, b.String(), args, func(rows *sql.Rows) error {
		a, err := scanAlert(rows)
		out = append(out, a)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
