package shard

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Claim states of an idempotency key.
const (
	ClaimPending = "pending"
	ClaimDone    = "done"
)

// ClaimResult is the outcome of ClaimKey.
type ClaimResult struct {
	// Acquired: the caller owns the key and must run the request, then CompleteKey or ReleaseKey.
	Acquired bool
	// InProgress: another request with this key is running; poll again.
	InProgress bool
	// Done: the stored first answer.
	Done   bool
	Status int
	Body   []byte
}

// ClaimKey claims an idempotency key for a request. A key seen with a different request hash
// fails with idempotency_conflict. A pending claim whose lease ran out (its owner died) is taken
// over; the request's own marker (applied_requests or a key-derived reservation id) then stops a
// second application. No statement here takes a lock it later upgrades, so a storm of replays
// of one key cannot deadlock: readers poll, one INSERT or one conditional UPDATE wins.
func (s *Store) ClaimKey(ctx context.Context, keyHash, requestHash []byte, partition int, lease, keep time.Duration) (ClaimResult, error) {
	var reqHash, body []byte
	var state string
	var status int
	var leaseOver bool
	err := s.db.QueryRowContext(ctx, `SELECT request_hash, state, response_status, response_body, locked_until <= UTC_TIMESTAMP(6)
		FROM idempotency_keys WHERE key_hash = ?`, keyHash).Scan(&reqHash, &state, &status, &body, &leaseOver)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return s.insertClaim(ctx, keyHash, requestHash, partition, lease, keep)
	case err != nil:
		return ClaimResult{}, s.classify(err)
	case !bytes.Equal(reqHash, requestHash):
		return ClaimResult{}, inventory.Errorf(inventory.CodeIdempotencyConflict, "Idempotency-Key was already used with a different request")
	case state == ClaimDone:
		return ClaimResult{Done: true, Status: status, Body: body}, nil
	case !leaseOver:
		return ClaimResult{InProgress: true}, nil
	}
	var out ClaimResult
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND
			WHERE key_hash = ? AND state = 'pending' AND locked_until <= UTC_TIMESTAMP(6)`, lease.Microseconds(), keyHash)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		out = ClaimResult{Acquired: n == 1, InProgress: n != 1}
		return nil
	})
	return out, err
}

func (s *Store) insertClaim(ctx context.Context, keyHash, requestHash []byte, partition int, lease, keep time.Duration) (ClaimResult, error) {
	var out ClaimResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key_hash, partition_id, request_hash, state, locked_until, expires_at, created_at)
			VALUES (?, ?, ?, 'pending', UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6))`,
			keyHash, partition, requestHash, lease.Microseconds(), keep.Microseconds())
		switch {
		case err == nil:
			out = ClaimResult{Acquired: true}
			return nil
		case isDuplicate(err):
			out = ClaimResult{InProgress: true} // someone else claimed it first; poll again
			return nil
		}
		return err
	})
	return out, err
}

// CompleteKey stores the first answer of the request that owns the key. It honours the fence
// like every write, so an answer is never stored on a shard the key's partition has left.
func (s *Store) CompleteKey(ctx context.Context, keyHash []byte, partition int, status int, body []byte) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ? WHERE key_hash = ?",
			status, body, keyHash)
		return err
	})
}

// ReleaseKey forgets a pending claim (the request failed without an answer worth keeping).
func (s *Store) ReleaseKey(ctx context.Context, keyHash []byte, partition int) error {
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE key_hash = ? AND state = 'pending'", keyHash)
		return err
	})
}

// PurgeExpiredKeys deletes up to limit expired idempotency keys and request markers.
func (u *Upkeep) PurgeExpiredKeys(ctx context.Context, limit int) (int64, error) {
	var total int64
	for _, q := range []string{
		"DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?",
		"DELETE FROM applied_requests WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?",
	} {
		res, err := u.s.db.ExecContext(ctx, q, limit)
		if err != nil {
			return total, u.s.classify(err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
