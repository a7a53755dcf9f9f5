package shard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/shardstock/shardstock/inventory"
)

// Idempotency claims, shared by the shards and the metadata store (each has an
// idempotency_keys table). A claim is a row (key hash → request hash, state, stored answer) plus
// a session lock: the request that owns a pending claim holds GET_LOCK on a dedicated connection
// for as long as it runs. The lock dies with its connection, so with the process that holds it:
// a pending claim whose lock is free belongs to a request that is gone and may be taken over at
// once, while a claim whose lock is held is never taken over, however long its request runs.

// Claim states of an idempotency key.
const (
	ClaimPending = "pending"
	ClaimDone    = "done"
	// claimHome marks a key's home record (RecordKeyHome), not a claim.
	claimHome = "home"
)

// Claim asks to claim an idempotency key.
type Claim struct {
	Key     []byte // the key's hash
	Request []byte // the request's hash
	// Partition is where the claim lives (a shard checks its fence); the metadata store ignores it.
	Partition int
	// Wait bounds how long ClaimKey waits for a request that holds the key right now; 0 answers
	// InProgress at once.
	Wait time.Duration
	// Lease is written as the claim's locked_until, for gateways of earlier versions, which take
	// a pending claim over only once it ran out.
	Lease time.Duration
	Keep  time.Duration // retention of the key
}

// ClaimResult is the outcome of ClaimKey.
type ClaimResult struct {
	// Acquired: the caller owns the key and must run the request, then CompleteKey or ReleaseKey,
	// then Lock.Release.
	Acquired bool
	// Takeover: the key had a pending claim whose request is gone (its lock was free).
	Takeover bool
	// InProgress: another live request holds the key and did not finish within Claim.Wait.
	InProgress bool
	// Done: the stored first answer.
	Done   bool
	Status int
	Body   []byte
	// Lock is held while Acquired (nil otherwise).
	Lock *ClaimLock
}

// ClaimLock is the session lock that ties an acquired claim to the live request that owns it.
type ClaimLock struct {
	conn *sql.Conn
	name string
}

// Release frees the lock and returns its connection; a connection whose release fails is
// discarded (closing it frees the lock too). Safe on nil; it ignores any cancellation of the
// request.
func (l *ClaimLock) Release() {
	if l == nil || l.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var released sql.NullInt64
	if err := l.conn.QueryRowContext(ctx, "SELECT RELEASE_LOCK(?)", l.name).Scan(&released); err != nil {
		_ = l.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = l.conn.Close()
	l.conn = nil
}

// keyTable holds the idempotency claims of one database and the pool their locks are held on
// (separate from the statements' pool, so that requests holding locks can never starve the
// statements they wait for).
type keyTable struct {
	db, locks *sql.DB
	database  string // lock names are per server; claims are per database
	inTx      func(ctx context.Context, fn func(tx *sql.Tx) error) error
	classify  func(error) error
	// fence checks that the claim's partition is owned (nil on the metadata store).
	fence func(ctx context.Context, tx *sql.Tx, partitions ...int) error
}

// newKeyTable returns the claims of the database at dsn, over db and a lock pool of its own.
func newKeyTable(db *sql.DB, dsn string, maxOpen int, inTx func(context.Context, func(*sql.Tx) error) error, classify func(error) error) (keyTable, error) {
	locks, err := sql.Open("mysql", NormalizeDSN(dsn))
	if err != nil {
		return keyTable{}, err
	}
	locks.SetMaxOpenConns(maxOpen)
	locks.SetMaxIdleConns(maxOpen)
	locks.SetConnMaxLifetime(30 * time.Minute)
	var database string
	if cfg, err := mysql.ParseDSN(dsn); err == nil {
		database = cfg.DBName
	}
	return keyTable{db: db, locks: locks, database: database, inTx: inTx, classify: classify}, nil
}

// lockName is the key's lock name: at most 64 characters, distinct per database.
func (k *keyTable) lockName(key []byte) string {
	h := sha256.Sum256(append([]byte(k.database+"\x00"), key...))
	return "shardstock-idem:" + hex.EncodeToString(h[:20])
}

// lock takes the key's lock, waiting up to wait; nil when another session holds it.
func (k *keyTable) lock(ctx context.Context, key []byte, wait time.Duration) (*ClaimLock, error) {
	conn, err := k.locks.Conn(ctx)
	if err != nil {
		return nil, k.classify(err)
	}
	name := k.lockName(key)
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", name, wait.Seconds()).Scan(&got); err != nil {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		_ = conn.Close()
		return nil, k.classify(err)
	}
	if got.Int64 != 1 {
		_ = conn.Close()
		return nil, nil
	}
	return &ClaimLock{conn: conn, name: name}, nil
}

// keyRow is a stored claim.
type keyRow struct {
	request []byte
	state   string
	status  int
	body    []byte
}

func (k *keyTable) row(ctx context.Context, key []byte) (keyRow, bool, error) {
	var r keyRow
	err := k.db.QueryRowContext(ctx, "SELECT request_hash, state, response_status, response_body FROM idempotency_keys WHERE key_hash = ?", key).
		Scan(&r.request, &r.state, &r.status, &r.body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, k.classify(err)
}

// look reads the key's claim (found) and says whether it settles the request without running
// it (final: a conflict, a stored answer, or an error reading it).
func (k *keyTable) look(ctx context.Context, c Claim) (res ClaimResult, found, final bool, err error) {
	r, found, err := k.row(ctx, c.Key)
	if err != nil || !found {
		return ClaimResult{}, found, err != nil, err
	}
	res, final, err = r.settled(c.Request)
	return res, true, final, err
}

// settled is the answer a stored claim gives without running anything: a conflict for another
// request, the stored answer of a finished one (final is false for a pending claim of this
// request).
func (r keyRow) settled(request []byte) (res ClaimResult, final bool, err error) {
	switch {
	case !bytes.Equal(r.request, request):
		return res, true, inventory.Errorf(inventory.CodeIdempotencyConflict, "Idempotency-Key was already used with a different request")
	case r.state == ClaimDone:
		return ClaimResult{Done: true, Status: r.status, Body: r.body}, true, nil
	}
	return res, false, nil
}

// claim claims the key: at once when its lock is free, else (after answering a conflict or a
// finished request at once) after waiting up to c.Wait for the request that holds it.
func (k *keyTable) claim(ctx context.Context, c Claim) (ClaimResult, error) {
	lock, err := k.lock(ctx, c.Key, 0)
	if err != nil {
		return ClaimResult{}, err
	}
	if lock == nil {
		if res, _, final, err := k.look(ctx, c); final {
			return res, err
		}
		if c.Wait <= 0 {
			return ClaimResult{InProgress: true}, nil
		}
		if lock, err = k.lock(ctx, c.Key, c.Wait); err != nil || lock == nil {
			return ClaimResult{InProgress: err == nil}, err
		}
	}
	res, err := k.claimLocked(ctx, c)
	if err != nil || !res.Acquired {
		lock.Release()
		return res, err
	}
	res.Lock = lock
	return res, nil
}

// claimLocked claims the key while holding its lock: a pending claim found now belongs to a
// request that is gone, and is taken over.
func (k *keyTable) claimLocked(ctx context.Context, c Claim) (ClaimResult, error) {
	res, found, final, err := k.look(ctx, c)
	if final {
		return res, err
	}
	var out ClaimResult
	err = k.inTx(ctx, func(tx *sql.Tx) error {
		if err := k.checkFence(ctx, tx, c.Partition); err != nil {
			return err
		}
		if found {
			res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND
				WHERE key_hash = ? AND state = 'pending'`, c.Lease.Microseconds(), c.Key)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			out = ClaimResult{Acquired: n == 1, Takeover: n == 1, InProgress: n != 1}
			return nil
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key_hash, partition_id, request_hash, state, locked_until, expires_at, created_at)
			VALUES (?, ?, ?, 'pending', UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6))`,
			c.Key, c.Partition, c.Request, c.Lease.Microseconds(), c.Keep.Microseconds())
		switch {
		case err == nil:
			out = ClaimResult{Acquired: true}
		case isDuplicate(err):
			out = ClaimResult{InProgress: true} // claimed without a lock (a gateway of an earlier version)
		default:
			return err
		}
		return nil
	})
	return out, err
}

// checkFence checks the claim's partition fence (nothing to check on the metadata store).
func (k *keyTable) checkFence(ctx context.Context, tx *sql.Tx, partition int) error {
	if k.fence == nil {
		return nil
	}
	return k.fence(ctx, tx, partition)
}

// complete stores the first answer of the request that owns the key.
func (k *keyTable) complete(ctx context.Context, key []byte, partition, status int, body []byte) error {
	return k.inTx(ctx, func(tx *sql.Tx) error {
		if err := k.checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ? WHERE key_hash = ?",
			status, body, key)
		return err
	})
}

// release forgets a pending claim.
func (k *keyTable) release(ctx context.Context, key []byte, partition int) error {
	return k.inTx(ctx, func(tx *sql.Tx) error {
		if err := k.checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE key_hash = ? AND state = 'pending'", key)
		return err
	})
}

// close closes the lock pool.
func (k *keyTable) close() error {
	if k.locks == nil {
		return nil
	}
	return k.locks.Close()
}
