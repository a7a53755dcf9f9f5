package shard

import (
	"context"
	"database/sql"

	"github.com/shardstock/shardstock/inventory"
)

// Whole-shard reads for the cluster verifier (migrate.Verify): each product's stock next to
// what its ledger, its held lines and its lots say, every reservation line, the size of the log.

// ProductLedger is one product's stock beside the figures that must agree with it.
type ProductLedger struct {
	SKU              string
	Partition        int
	OnHand, Reserved int64
	// LedgerOnHand and LedgerReserved are the product's ledger base (archived rows) plus the
	// sums of its change-log deltas.
	LedgerOnHand, LedgerReserved int64
	HeldLines                    int64 // sum of its held reservation lines
	// Lots of a lot-tracked product: how many, their remaining sum, and how many are out of
	// bounds (remaining < 0 or > received).
	Lots, LotRemaining, BadLots int64
}

// ProductLedgers returns every product row of this shard with its ledger figures.
func (lg *Ledger) ProductLedgers(ctx context.Context) ([]ProductLedger, error) {
	var out []ProductLedger
	err := lg.s.scanRows(ctx, lg.s.db, `SELECT p.sku, p.partition_id, p.on_hand, p.reserved,
		COALESCE(b.on_hand, 0) + COALESCE(c.oh, 0), COALESCE(b.reserved, 0) + COALESCE(c.rs, 0), COALESCE(l.held, 0),
		COALESCE(lt.n, 0), COALESCE(lt.rem, 0), COALESCE(lt.bad, 0)
		FROM products p
		LEFT JOIN (SELECT sku, SUM(delta_on_hand) oh, SUM(delta_reserved) rs FROM changes GROUP BY sku) c ON c.sku = p.sku
		LEFT JOIN ledger_base b ON b.sku = p.sku
		LEFT JOIN (SELECT sku, SUM(quantity) held FROM reservation_lines WHERE status = 'held' GROUP BY sku) l ON l.sku = p.sku
		LEFT JOIN (SELECT sku, COUNT(*) n, SUM(remaining) rem, SUM(remaining < 0 OR remaining > received) bad FROM lots GROUP BY sku) lt ON lt.sku = p.sku`,
		nil, func(rows *sql.Rows) error {
			var p ProductLedger
			err := rows.Scan(&p.SKU, &p.Partition, &p.OnHand, &p.Reserved, &p.LedgerOnHand, &p.LedgerReserved, &p.HeldLines,
				&p.Lots, &p.LotRemaining, &p.BadLots)
			out = append(out, p)
			return err
		})
	return out, err
}

// LineRow is a stored reservation line with its reservation and partition.
type LineRow struct {
	ReservationID string
	Partition     int
	SKU           string
	Quantity      int64
	Status        inventory.LineStatus
}

// AllLines returns every reservation line on this shard.
func (lg *Ledger) AllLines(ctx context.Context) ([]LineRow, error) {
	var out []LineRow
	err := lg.s.scanRows(ctx, lg.s.db, "SELECT reservation_id, sku, status, quantity, partition_id FROM reservation_lines", nil, func(rows *sql.Rows) error {
		var l LineRow
		err := rows.Scan(&l.ReservationID, &l.SKU, &l.Status, &l.Quantity, &l.Partition)
		out = append(out, l)
		return err
	})
	return out, err
}

// ChangeCount returns the number of rows in the change log.
func (lg *Ledger) ChangeCount(ctx context.Context) (int64, error) {
	var n int64
	err := lg.s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM changes").Scan(&n)
	return n, lg.s.classify(err)
}
