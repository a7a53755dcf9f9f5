package shard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shardstock/shardstock/inventory"
)

// Store runs every SQL statement against one shard.
type Store struct {
	name string
	db   *sql.DB
	keys keyTable // idempotency claims and their locks (idempotency.go, claims.go)
	// The facets (facets.go), built once with the store.
	upkeep *Upkeep
	mover  *Mover
	ledger *Ledger
	relay  *Relay
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
	s := newStore(name, db)
	if s.keys, err = newKeyTable(db, dsn, po.MaxOpen, s.inTx, s.classify); err != nil {
		db.Close()
		return nil, fmt.Errorf("shard %s: %w", name, err)
	}
	s.keys.fence = checkFence
	return s, nil
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

// Stats returns the connection pool's statistics (for the pool metrics).
func (s *Store) Stats() sql.DBStats { return s.db.Stats() }

// DB exposes the pool for tests and test harnesses only: invariant checks and deliberate
// corruption in SQL. Production code calls the store's methods (and Stats for pool figures).
func (s *Store) DB() *sql.DB { return s.db }

// Close closes the pools.
func (s *Store) Close() error { return errors.Join(s.keys.close(), s.db.Close()) }

// Ping checks that the shard answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return s.unavailable(err)
	}
	return nil
}

// inTx runs fn in a transaction (RetryTx: deadlocks and lock wait timeouts are retried) and
// converts the error at the store's edge (classify).
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.classify(RetryTx(ctx, s.db, nil, fn))
}

// classify converts an error at the store's edge: nil stays nil; a kept error (keep) is
// returned as it was; domain errors stay; MySQL server errors are wrapped with the shard's name
// (a server that is shutting down, read-only or out of connections counts as unavailable; a
// deadlock or lock wait timeout that RetryTx gave up on, or that a single statement met, is a
// busy shard: see busy); a connectivity failure is shard_unavailable; anything else (a failed
// check of the store's own) is internal. A duplicate key (1062) is turned into a domain error
// where the caller expects one (already_applied, a concurrent claim); an unexpected one stays a
// server error, which the gateway answers as internal.
func (s *Store) classify(err error) error {
	if err == nil {
		return nil
	}
	var k kept
	if errors.As(err, &k) {
		return k.err
	}
	var de *inventory.Error
	if errors.As(err, &de) {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1203, 1290, 1927: // too many connections, shutdown, read-only, killed
			return s.unavailable(err)
		case 1213, 1205: // deadlock, lock wait timeout
			return s.busy(err)
		}
		return fmt.Errorf("shard %s: %w", s.name, err)
	}
	if connectivity(err) {
		return s.unavailable(err)
	}
	// The shard answered, but a check of the store's own failed (rows out of step with each
	// other, a scan that does not fit): an internal error, its cause kept for the logs only.
	return &inventory.Error{Code: inventory.CodeInternal, Message: "shard " + s.name + ": internal error", Err: err}
}

// connectivity reports whether err (not a MySQL server error) is a failure to reach the
// server or to keep talking to it: dialing, the network, the TLS handshake, a broken or closed
// connection, a deadline or a cancellation.
func connectivity(err error) bool {
	for _, target := range []error{context.Canceled, context.DeadlineExceeded, driver.ErrBadConn, sql.ErrConnDone,
		mysql.ErrInvalidConn, mysql.ErrMalformPkt, mysql.ErrPktSync, mysql.ErrPktSyncMul, io.EOF, io.ErrUnexpectedEOF} {
		if errors.Is(err, target) {
			return true
		}
	}
	var (
		netErr     net.Error
		verifyErr  *tls.CertificateVerificationError
		alertErr   tls.AlertError
		recordErr  tls.RecordHeaderError
		hostErr    x509.HostnameError
		unknownCA  x509.UnknownAuthorityError
		invalidErr x509.CertificateInvalidError
	)
	return errors.As(err, &netErr) || errors.As(err, &verifyErr) || errors.As(err, &alertErr) ||
		errors.As(err, &recordErr) || errors.As(err, &hostErr) || errors.As(err, &unknownCA) || errors.As(err, &invalidErr)
}

// unavailable wraps a connectivity failure as shard_unavailable naming this shard. The message,
// which API clients see, names the shard and the kind of failure only (failureKind), never the
// shard's address; the cause stays in Err (Error(), errors.Is/As, logs). A cancelled client
// request stays context.Canceled.
func (s *Store) unavailable(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "shard " + s.name + " is unavailable: " + failureKind(err),
		Details: map[string]any{"shards": []string{s.name}}, Err: err}
}

// ReasonLockContention is details.reason of the shard_unavailable error of a transaction that
// kept meeting deadlocks or lock wait timeouts (busy).
const ReasonLockContention = "lock_contention"

// busy is the shard_unavailable error of a transaction that kept meeting lock conflicts: the
// shard answers, so details.shards is empty, and the client may retry (503, Retry-After).
func (s *Store) busy(err error) error {
	return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "shard " + s.name + " is busy: the transaction kept meeting lock conflicts; retry",
		Details: map[string]any{"shards": []string{}, "reason": ReasonLockContention}, Err: err}
}

// failureKind says in a fixed phrase why a shard (or the metadata store) could not be used:
// what a client may read, without host, port or driver text.
func failureKind(err error) string {
	var (
		me      *mysql.MySQLError
		ne      net.Error
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
		verify  *tls.CertificateVerificationError
		record  tls.RecordHeaderError
		alert   tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &unknown), errors.As(err, &host), errors.As(err, &invalid), errors.As(err, &verify),
		errors.As(err, &record), errors.As(err, &alert):
		return "tls error"
	case errors.As(err, &me):
		switch me.Number {
		case 1040, 1203:
			return "too many connections"
		case 1053:
			return "server shutting down"
		case 1290:
			return "server is read-only"
		case 1927:
			return "connection killed"
		}
		return "server error"
	}
	return "connection failed"
}

// kept carries an error that is not a database failure of this shard (a check of the store's
// own found rows that are not as expected, or a caller's callback failed): classify returns
// the error inside as it is, instead of counting it as a connectivity failure.
type kept struct{ err error }

func (k kept) Error() string { return k.err.Error() }
func (k kept) Unwrap() error { return k.err }

// keep marks err for classify to return unchanged (nil stays nil).
func keep(err error) error {
	if err == nil {
		return nil
	}
	return kept{err}
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// scanRows runs a query on q (the pool or a transaction) and calls scan for every row; errors,
// scan's included, are classified.
func (s *Store) scanRows(ctx context.Context, q querier, query string, args []any, scan func(*sql.Rows) error) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return s.classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.classify(err)
		}
	}
	return s.classify(rows.Err())
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
