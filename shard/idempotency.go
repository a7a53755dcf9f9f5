package shard

import (
	"bytes"
	"context"
	"database/sql"
	"time"
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
// second application.
func (s *Store) ClaimKey(ctx context.Context, keyHash, requestHash []byte, partition int, lease, keep time.Duration) (ClaimResult, error) {
	var out ClaimResult
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		out = ClaimResult{}
		if err := checkFence(ctx, tx, partition); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key_hash, partition_id, request_hash, state, locked_until, expires_at, created_at)
			VALUES (?, ?, ?, 'pending', UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6))`,
			keyHash, partition, requestHash, lease.Microseconds(), keep.Microseconds())
		if err == nil {
			out.Acquired = true
			return nil
		}
		if !isDuplicate(err) {
			return err
		}
		var reqHash, body []byte
		var state string
		var status int
		var leaseOver bool
		err = tx.QueryRowContext(ctx, `SELECT request_hash, state, response_status, response_body, locked_until <= UTC_TIMESTAMP(6)
			FROM idempotency_keys WHERE key_hash = ? FOR UPDATE`, keyHash).Scan(&reqHash, &state, &status, &body, &leaseOver)
		if err != nil {
			return err
		}
		if !bytes.Equal(reqHash, requestHash) {
			return Errorf(CodeIdempotencyConflict, "Idempotency-Key was already used with a different request")
		}
		switch {
		case state == ClaimDone:
			out.Done, out.Status, out.Body = true, status, body
		case leaseOver:
			_, err = tx.ExecContext(ctx, "UPDATE idempotency_keys SET locked_until = UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND WHERE key_hash = ?",
				lease.Microseconds(), keyHash)
			out.Acquired = err == nil
			return err
		default:
			out.InProgress = true
		}
		return nil
	})
	return out, err
}

// CompleteKey stores the first answer of the request that owns the key.
func (s *Store) CompleteKey(ctx context.Context, keyHash []byte, status int, body []byte) error {
	_, err := s.db.ExecContext(ctx, "UPDATE idempotency_keys SET state = 'done', response_status = ?, response_body = ? WHERE key_hash = ?",
		status, body, keyHash)
	return s.classifyNil(err)
}

// ReleaseKey forgets a pending claim (the request failed without an answer worth keeping).
func (s *Store) ReleaseKey(ctx context.Context, keyHash []byte) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE key_hash = ? AND state = 'pending'", keyHash)
	return s.classifyNil(err)
}

// PurgeExpiredKeys deletes up to limit expired idempotency keys and request markers.
func (s *Store) PurgeExpiredKeys(ctx context.Context, limit int) (int64, error) {
	var total int64
	for _, q := range []string{
		"DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?",
		"DELETE FROM applied_requests WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?",
	} {
		res, err := s.db.ExecContext(ctx, q, limit)
		if err != nil {
			return total, s.classify(err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
