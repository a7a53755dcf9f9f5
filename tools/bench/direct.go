package bench

import (
	"context"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/shard"
)

// The direct baseline runs, per operation, the statements the shard store runs for it (see
// shard.Store.GetProduct, CreateLocal/reserveLines, FinishLocal/applyLines and ChangeStock), in
// the same transactions, against the real shard schema, with the same retries on deadlocks.
// It writes the same rows the gateway would — header, line, product update and change-log row
// — so the cluster's invariants (ledger sums, held lines, whole reservations) still hold
// afterwards. Reservation ids start with "d" (the gateway's start with "r"), so the gateway
// never mistakes them for its own, and the order ids with "bench-direct-".
//
// What the direct baseline leaves out is what the gateway adds around the SQL: HTTP and JSON,
// routing, the read of the header after a create and before a settle.
const (
	directRead = "SELECT sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, updated_at FROM products WHERE sku = ?"

	directFence = "SELECT partition_id FROM partition_fence WHERE partition_id IN (?) AND state = 'owned' LOCK IN SHARE MODE"

	directInsertHeader = `INSERT INTO reservations (id, partition_id, order_id, status, lines_json, commit_requested,
		expires_at, created_at, updated_at) VALUES (?, ?, ?, 'held', ?, 0, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`
	directLockProduct  = "SELECT scale, on_hand, reserved FROM products WHERE sku = ? FOR UPDATE"
	directLockNewLine  = "SELECT status FROM reservation_lines WHERE reservation_id = ? AND sku = ? FOR UPDATE"
	directReserveStock = `UPDATE products SET reserved = reserved + ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
		WHERE sku = ? AND on_hand - reserved >= ?`
	directInsertLine = `INSERT INTO reservation_lines (reservation_id, sku, partition_id, quantity, status,
		created_at, updated_at) VALUES (?, ?, ?, ?, 'held', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`
	// The store records who made each change (actor, request id); the baseline does too.
	directInsertChange = "INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, actor, request_id, created_at) VALUES (?,?,?,?,?,?,'bench-direct','',UTC_TIMESTAMP(6))"

	directLockHeader = `SELECT id, partition_id, order_id, status, lines_json, commit_requested, expires_at, created_at, updated_at,
		UTC_TIMESTAMP(6) >= expires_at FROM reservations WHERE id = ? FOR UPDATE`
	directSetHeader   = "UPDATE reservations SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?"
	directLockLine    = "SELECT quantity, status FROM reservation_lines WHERE reservation_id = ? AND sku = ? FOR UPDATE"
	directCommitStock = `UPDATE products SET on_hand = on_hand - ?, reserved = reserved - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
		WHERE sku = ? AND reserved >= ? AND on_hand >= ?`
	directReleaseStock = `UPDATE products SET reserved = reserved - ?, version = version + 1, updated_at = UTC_TIMESTAMP(6)
		WHERE sku = ? AND reserved >= ? AND ? >= 0 AND on_hand >= 0`
	directSetLine = "UPDATE reservation_lines SET status = ?, updated_at = UTC_TIMESTAMP(6) WHERE reservation_id = ? AND sku = ?"

	directLockProductRow = "SELECT sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, updated_at FROM products WHERE sku = ? FOR UPDATE"
	directAdjustStock    = `UPDATE products SET on_hand = on_hand + ?, version = version + 1, updated_at = ?
		WHERE sku = ? AND on_hand + ? >= reserved`

	directLocate = `SELECT p.sku, p.partition_id FROM products p
		JOIN partition_fence f ON f.partition_id = p.partition_id AND f.state = 'owned' WHERE p.sku IN (`
)

// directShards holds one pool per shard DSN and where each SKU lives.
type directShards struct {
	dbs  []*sql.DB
	dsns []string
}

// skuHome is the shard pool and partition of one SKU.
type skuHome struct {
	db        *sql.DB
	partition int
}

// openDirect opens a pool of Concurrency connections per DSN and pings each. Parameters are
// interpolated client-side (one round trip per statement), as a latency-minded application
// would configure its driver.
func openDirect(ctx context.Context, o Options) (*directShards, error) {
	d := &directShards{}
	for _, dsn := range o.DirectDSNs {
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("direct DSN %s: %w", configs.Redact(dsn), err)
		}
		cfg.ParseTime = true
		cfg.Loc = time.UTC
		cfg.InterpolateParams = true
		if cfg.Params == nil {
			cfg.Params = map[string]string{}
		}
		cfg.Params["time_zone"] = "'+00:00'"
		if cfg.Timeout == 0 {
			cfg.Timeout = 5 * time.Second
		}
		db, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("direct DSN %s: %w", configs.Redact(dsn), err)
		}
		db.SetMaxOpenConns(o.Concurrency)
		db.SetMaxIdleConns(o.Concurrency)
		db.SetConnMaxLifetime(30 * time.Minute)
		d.dbs = append(d.dbs, db)
		d.dsns = append(d.dsns, configs.Redact(dsn))
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = db.PingContext(pctx)
		cancel()
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("direct DSN %s: %w", configs.Redact(dsn), err)
		}
	}
	return d, nil
}

// Close closes every pool.
func (d *directShards) Close() {
	for _, db := range d.dbs {
		db.Close()
	}
}

// locate finds, for each SKU, the shard whose owned partition holds its row. The bench does not
// read the topology: the shards themselves say where each product lives.
func (d *directShards) locate(ctx context.Context, skus []string) ([]skuHome, error) {
	found := make(map[string]skuHome, len(skus))
	for i, db := range d.dbs {
		for start := 0; start < len(skus); start += batchSize {
			batch := skus[start:min(start+batchSize, len(skus))]
			args := make([]any, len(batch))
			for j, s := range batch {
				args[j] = s
			}
			q := directLocate + strings.TrimSuffix(strings.Repeat("?,", len(batch)), ",") + ")"
			rows, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, fmt.Errorf("direct: locate SKUs on %s: %w", d.dsns[i], err)
			}
			for rows.Next() {
				var sku string
				var p int
				if err := rows.Scan(&sku, &p); err != nil {
					rows.Close()
					return nil, fmt.Errorf("direct: locate SKUs on %s: %w", d.dsns[i], err)
				}
				if _, dup := found[sku]; dup {
					rows.Close()
					return nil, fmt.Errorf("direct: product %s is owned by two of the given shards", sku)
				}
				found[sku] = skuHome{db: db, partition: p}
			}
			err = rows.Err()
			rows.Close()
			if err != nil {
				return nil, fmt.Errorf("direct: locate SKUs on %s: %w", d.dsns[i], err)
			}
		}
	}
	homes := make([]skuHome, len(skus))
	for i, sku := range skus {
		h, ok := found[sku]
		if !ok {
			return nil, fmt.Errorf("direct: product %s is on none of the given shards (set it up through a gateway with --target first)", sku)
		}
		homes[i] = h
	}
	return homes, nil
}

// directError is a business outcome of a direct transaction, named like the contract's codes.
type directError struct{ code, msg string }

func (e *directError) Error() string { return e.code + ": " + e.msg }

var errInsufficient = &directError{"insufficient_stock", "not enough stock available"}

// directStatus is the Statuses key of a direct transaction's outcome.
func directStatus(err error) string {
	var de *directError
	var me *mysql.MySQLError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &de):
		return de.code
	case errors.As(err, &me):
		return "mysql_" + strconv.Itoa(int(me.Number))
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	default:
		return "error"
	}
}

// directWorker runs scenario operations as SQL against the shards.
type directWorker struct {
	o     Options
	id    int
	skus  []string
	homes []skuHome
	rng   *rand.Rand
	seq   int
}

func (w *directWorker) runOp(ctx context.Context, rec *recorder) {
	runScenarioOp(ctx, w, w.o.Scenario, w.rng, rec)
}

func (w *directWorker) pick() (string, skuHome) {
	i := w.rng.IntN(len(w.skus))
	return w.skus[i], w.homes[i]
}

func (w *directWorker) read(ctx context.Context, rec *recorder) bool {
	sku, home := w.pick()
	ctx, cancel := context.WithTimeout(ctx, w.o.RequestTimeout)
	defer cancel()
	start := time.Now()
	var p struct {
		sku, name, category                  string
		partition, scale                     int
		onHand, reserved, threshold, version int64
		updated                              time.Time
	}
	err := home.db.QueryRowContext(ctx, directRead, sku).Scan(&p.sku, &p.partition, &p.name, &p.category, &p.scale,
		&p.onHand, &p.reserved, &p.threshold, &p.version, &p.updated)
	rec.request(kindRead, start, time.Now(), directStatus(err), err)
	return err == nil
}

// inTx runs fn in a transaction on db with the shard store's own retry of deadlocks and lock
// wait timeouts (shard.RetryTx: same attempts, same pauses), and records it as one request.
func (w *directWorker) inTx(ctx context.Context, rec *recorder, kind requestKind, db *sql.DB, fn func(context.Context, *sql.Tx) error) bool {
	ctx, cancel := context.WithTimeout(ctx, w.o.RequestTimeout)
	defer cancel()
	start := time.Now()
	err := shard.RetryTx(ctx, db, func() { rec.retry(time.Now()) }, func(tx *sql.Tx) error { return fn(ctx, tx) })
	rec.request(kind, start, time.Now(), directStatus(err), err)
	return err == nil
}

var idEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// newID makes a 30-character reservation id like the gateway's, but starting with "d". Its
// random part does not come from the worker's seeded source, which repeats across runs.
func newID(partition int) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	return fmt.Sprintf("d%05d", partition) + idEncoding.EncodeToString(b[:15])
}

func fence(ctx context.Context, tx *sql.Tx, partition int) error {
	rows, err := tx.QueryContext(ctx, directFence, partition)
	if err != nil {
		return err
	}
	defer rows.Close()
	owned := 0
	for rows.Next() {
		owned++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if owned != 1 {
		return &directError{"partition_moved", fmt.Sprintf("partition %d is not owned by this shard", partition)}
	}
	return nil
}

// directReservation is one single-unit reservation of the direct baseline.
type directReservation struct {
	partition         int
	sku, id, orderID  string
	lines             string // lines_json
	settle            string // the change kind of the settle: commit or release
	final, lineStatus string // the header's and the line's status after the settle
	commit            bool
}

func (w *directWorker) reserveAndSettle(ctx context.Context, rec *recorder) bool {
	sku, home := w.pick()
	p := home.partition
	w.seq++
	r := directReservation{partition: p, sku: sku, id: newID(p), orderID: "bench-direct-" + strconv.Itoa(w.id) + "-" + strconv.Itoa(w.seq),
		lines:  `[{"sku":"` + sku + `","partition":` + strconv.Itoa(p) + `,"quantity":"1"}]`,
		settle: w.o.Settle, final: "committed", lineStatus: "committed", commit: true}
	if !w.inTx(ctx, rec, kindReserve, home.db, r.reserve) {
		return false
	}
	kind := kindCommit
	if w.o.Settle == SettleRelease {
		kind, r.final, r.lineStatus, r.commit = kindRelease, "released", "released", false
	}
	return w.inTx(context.WithoutCancel(ctx), rec, kind, home.db, r.settleTx)
}

// reserve writes the held header and line and takes the unit from the product, as
// shard.Store.CreateLocal does.
func (r directReservation) reserve(ctx context.Context, tx *sql.Tx) error {
	const qty = 1
	if err := fence(ctx, tx, r.partition); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, directInsertHeader, r.id, r.partition, r.orderID, r.lines, (reservationTTL * time.Second).Microseconds()); err != nil {
		return err
	}
	var scale int
	var onHand, reserved int64
	if err := tx.QueryRowContext(ctx, directLockProduct, r.sku).Scan(&scale, &onHand, &reserved); err != nil {
		return err
	}
	var existing string
	switch err := tx.QueryRowContext(ctx, directLockNewLine, r.id, r.sku).Scan(&existing); {
	case err == nil:
		return &directError{"invalid_state", "reservation line already exists"}
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}
	if onHand-reserved < qty {
		return errInsufficient
	}
	res, err := tx.ExecContext(ctx, directReserveStock, qty, r.sku, qty)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errInsufficient
	}
	if _, err := tx.ExecContext(ctx, directInsertLine, r.id, r.sku, r.partition, qty); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, directInsertChange, r.partition, r.sku, "reserve", 0, qty, r.id)
	return err
}

// settleTx commits or releases the reservation, as shard.Store.FinishLocal does.
func (r directReservation) settleTx(ctx context.Context, tx *sql.Tx) error {
	if err := fence(ctx, tx, r.partition); err != nil {
		return err
	}
	var h struct {
		id, orderID, status, lines      string
		partition                       int
		commitRequested, expired        bool
		expiresAt, createdAt, updatedAt time.Time
	}
	if err := tx.QueryRowContext(ctx, directLockHeader, r.id).Scan(&h.id, &h.partition, &h.orderID, &h.status, &h.lines,
		&h.commitRequested, &h.expiresAt, &h.createdAt, &h.updatedAt, &h.expired); err != nil {
		return err
	}
	if h.status != "held" || (r.commit && h.expired) {
		return &directError{"invalid_state", "reservation " + r.id + " is " + h.status}
	}
	if _, err := tx.ExecContext(ctx, directSetHeader, r.final, r.id); err != nil {
		return err
	}
	if err := fence(ctx, tx, r.partition); err != nil {
		return err
	}
	var lineQty int64
	var status string
	if err := tx.QueryRowContext(ctx, directLockLine, r.id, r.sku).Scan(&lineQty, &status); err != nil {
		return err
	}
	if status != "held" {
		return &directError{"invalid_state", "reservation line is " + status}
	}
	var res sql.Result
	var err error
	var dOnHand int64
	if r.commit {
		res, err = tx.ExecContext(ctx, directCommitStock, lineQty, lineQty, r.sku, lineQty, lineQty)
		dOnHand = -lineQty
	} else {
		res, err = tx.ExecContext(ctx, directReleaseStock, lineQty, r.sku, lineQty, lineQty)
	}
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("settle %s: product row does not hold the reserved quantity", r.id)
	}
	if _, err := tx.ExecContext(ctx, directSetLine, r.lineStatus, r.id, r.sku); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, directInsertChange, r.partition, r.sku, r.settle, dOnHand, -lineQty, r.id)
	return err
}

func (w *directWorker) adjust(ctx context.Context, rec *recorder) bool {
	sku, home := w.pick()
	p := home.partition
	const delta = 1
	return w.inTx(ctx, rec, kindAdjust, home.db, func(ctx context.Context, tx *sql.Tx) error {
		if err := fence(ctx, tx, p); err != nil {
			return err
		}
		var cur struct {
			sku, name, category                  string
			partition, scale                     int
			onHand, reserved, threshold, version int64
			updated                              time.Time
		}
		if err := tx.QueryRowContext(ctx, directLockProductRow, sku).Scan(&cur.sku, &cur.partition, &cur.name, &cur.category,
			&cur.scale, &cur.onHand, &cur.reserved, &cur.threshold, &cur.version, &cur.updated); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, directAdjustStock, delta, time.Now().UTC().Truncate(time.Microsecond), sku, delta)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errInsufficient
		}
		_, err = tx.ExecContext(ctx, directInsertChange, p, sku, "receive", delta, 0, "")
		return err
	})
}
