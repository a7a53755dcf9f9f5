package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shardstock/shardstock/inventory"
)

// Store runs every SQL statement against one shard.
type Store struct {
	name string
	db   *sql.DB
}

// PoolOptions sizes a shard's connection pool.
type PoolOptions struct {
	MaxOpen     int
	MaxIdle     int
	MaxLifetime time.Duration
}

// Open connects to the shard at dsn. The DSN is completed with the parameters the store relies
// on (parseTime, UTC session time zone).
func Open(name, dsn string, po PoolOptions) (*Store, error) {
	db, err := sql.Open("mysql", NormalizeDSN(dsn))
	if err != nil {
		return nil, fmt.Errorf("shard %s: %w", name, err)
	}
	if po.MaxOpen <= 0 {
		po.MaxOpen = 64
	}
	if po.MaxIdle <= 0 {
		po.MaxIdle = po.MaxOpen
	}
	if po.MaxLifetime <= 0 {
		po.MaxLifetime = 30 * time.Minute
	}
	db.SetMaxOpenConns(po.MaxOpen)
	db.SetMaxIdleConns(po.MaxIdle)
	db.SetConnMaxLifetime(po.MaxLifetime)
	return &Store{name: name, db: db}, nil
}

// NormalizeDSN parses dsn and sets parseTime, UTC locations, a UTC session time zone and
// client-side parameter interpolation (one round trip per statement instead of
// prepare/execute/close; the connection charset is utf8mb4, for which interpolation is safe).
func NormalizeDSN(dsn string) string {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return dsn // sql.Open reports the error
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.InterpolateParams = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 3 * time.Second
	}
	return cfg.FormatDSN()
}

// Name is the shard's name in the topology.
func (s *Store) Name() string { return s.name }

// DB exposes the pool, for the migration and reporting code that owns its own SQL.
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the shard answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.unavailable(err)
	}
	return nil
}

const maxTxAttempts = 6

// inTx runs fn in a transaction, retrying deadlocks and lock wait timeouts, and maps driver
// errors to domain errors.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil {
			return nil
		}
		if isRetryable(err) && attempt < maxTxAttempts && ctx.Err() == nil {
			time.Sleep(time.Duration(attempt*attempt)*time.Millisecond + time.Duration(rand.IntN(3000))*time.Microsecond)
			continue
		}
		return s.classify(err)
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func isRetryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	return false
}

// classify keeps domain errors and turns connectivity failures into shard_unavailable.
func (s *Store) classify(err error) error {
	var de *inventory.Error
	if errors.As(err, &de) {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1203, 1290, 1927: // too many connections, shutdown, read-only, killed
			return s.unavailable(err)
		}
		return fmt.Errorf("shard %s: %w", s.name, err)
	}
	return s.unavailable(err)
}

// unavailable wraps a connectivity failure as shard_unavailable naming this shard. A cancelled
// client request stays context.Canceled.
func (s *Store) unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "shard " + s.name + " is unavailable: " + err.Error(),
		Details: map[string]any{"shards": []string{s.name}}}
}

// isDuplicate reports a duplicate-key error.
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

// checkFence takes a shared lock on the fence rows of the partitions and fails with
// partition_moved unless this shard owns every one of them. A cutover that flips a fence waits
// for the transactions holding it and then rejects new ones.
func checkFence(ctx context.Context, tx *sql.Tx, partitions ...int) error {
	uniq := dedupeInts(partitions)
	args := make([]any, len(uniq))
	for i, p := range uniq {
		args[i] = p
	}
	q := "SELECT partition_id FROM partition_fence WHERE partition_id IN (" + placeholders(len(uniq)) +
		") AND state = 'owned' LOCK IN SHARE MODE"
	rows, err := tx.QueryContext(ctx, q, args...)
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
	if owned != len(uniq) {
		return inventory.Errorf(inventory.CodePartitionMoved, "partition not owned by this shard").
			WithDetails(map[string]any{"partitions": uniq})
	}
	return nil
}

func dedupeInts(in []int) []int {
	out := make([]int, 0, len(in))
	seen := make(map[int]bool, len(in))
	for _, v := range in {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// change is one row of the change log.
type change struct {
	partition     int
	sku           string
	kind          inventory.ChangeKind
	deltaOnHand   int64
	deltaReserved int64
	ref           string
}

const insertChangePrefix = "INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at) VALUES "

// insertChanges writes the change rows of a mutation and runs the afterChanges hook.
func insertChanges(ctx context.Context, tx *sql.Tx, cs ...change) error {
	if len(cs) == 0 {
		return nil
	}
	if err := insertChangeRows(ctx, tx, cs...); err != nil {
		return err
	}
	return afterChanges(ctx, tx, cs)
}

// insertChangeRows writes change rows without the afterChanges hook: for rows derived inside
// the hook itself (lot_take, lot_conflict, alert rows), which carry no stock delta.
func insertChangeRows(ctx context.Context, tx *sql.Tx, cs ...change) error {
	if len(cs) == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString(insertChangePrefix)
	args := make([]any, 0, len(cs)*6)
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("(?,?,?,?,?,?,UTC_TIMESTAMP(6))")
		args = append(args, c.partition, c.sku, c.kind, c.deltaOnHand, c.deltaReserved, c.ref)
	}
	_, err := tx.ExecContext(ctx, b.String(), args...)
	return err
}

// insertMarker records an idempotent request in the data's partition; a duplicate means the
// request was already applied (code already_applied).
func insertMarker(ctx context.Context, tx *sql.Tx, marker []byte, partition int) error {
	if len(marker) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO applied_requests (key_hash, partition_id, expires_at)
		VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL 2 DAY)`, marker, partition)
	if isDuplicate(err) {
		return inventory.Errorf(inventory.CodeAlreadyApplied, "request already applied")
	}
	return err
}
