package shard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// ClaimKey claims an idempotency key for a request in the claim's partition (the partition of
// the data the request changes; see claims.go for the session lock that keeps the claim alive).
// A key seen with a different request hash fails with idempotency_conflict; a finished one
// returns its stored answer. A pending claim whose request is gone (its lock is free) is taken
// over at once; the request's own marker (applied_requests or a key-derived reservation id) then
// stops a second application. A pending claim whose request is alive is waited for, up to
// c.Wait, then InProgress.
func (s *Store) ClaimKey(ctx context.Context, c Claim) (ClaimResult, error) {
	return s.keys.claim(ctx, c)
}

// CompleteKey stores the first answer of the request that owns the key. It honours the fence
// like every write, so an answer is never stored on a shard the key's partition has left.
func (s *Store) CompleteKey(ctx context.Context, keyHash []byte, partition int, status int, body []byte) error {
	return s.keys.complete(ctx, keyHash, partition, status, body)
}

// ReleaseKey forgets a pending claim (the request failed without an answer worth keeping).
func (s *Store) ReleaseKey(ctx context.Context, keyHash []byte, partition int) error {
	return s.keys.release(ctx, keyHash, partition)
}

// homeKey is the row key of a key's home record: another hash domain than the claims'.
func homeKey(keyHash []byte) []byte {
	h := sha256.Sum256(append([]byte("home\x00"), keyHash...))
	return h[:]
}

// RecordKeyHome records the request a key was first used with, in the key's home partition (a
// partition derived from the key alone). A claim lives with the data its request changes, so
// two uses of one key on data of different shards meet only here: a key recorded with another
// request is idempotency_conflict. One statement, fenced like every write (partition_moved when
// the partition is not owned here).
func (s *Store) RecordKeyHome(ctx context.Context, keyHash, requestHash []byte, partition int, keep time.Duration) error {
	home := homeKey(keyHash)
	for attempt := 0; attempt < 3; attempt++ {
		res, err := s.db.ExecContext(ctx, `INSERT INTO idempotency_keys (key_hash, partition_id, request_hash, state, locked_until, expires_at, created_at)
			SELECT ?, partition_id, ?, ?, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND, UTC_TIMESTAMP(6)
			FROM partition_fence WHERE partition_id = ? AND state = 'owned'`, home, requestHash, claimHome, keep.Microseconds(), partition)
		if err == nil {
			if n, _ := res.RowsAffected(); n != 1 {
				return movedError(partition)
			}
			return nil
		}
		if !isDuplicate(err) {
			return s.classify(err)
		}
		var stored []byte
		err = s.db.QueryRowContext(ctx, "SELECT request_hash FROM idempotency_keys WHERE key_hash = ?", home).Scan(&stored)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // forgotten meanwhile: record it again
		case err != nil:
			return s.classify(err)
		case !bytes.Equal(stored, requestHash):
			return inventory.Errorf(inventory.CodeIdempotencyConflict, "Idempotency-Key was already used with a different request")
		}
		return nil
	}
	return nil
}

// ForgetKeyHome removes a key's home record if it names this request (the request failed with
// an answer that is not kept, so the key is free again).
func (s *Store) ForgetKeyHome(ctx context.Context, keyHash, requestHash []byte) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE key_hash = ? AND state = ? AND request_hash = ?",
		homeKey(keyHash), claimHome, requestHash)
	return s.classify(err)
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

// ClaimKey claims an idempotency key of a request that changes the metadata store (see
// Store.ClaimKey; there are no partitions here).
func (m *Meta) ClaimKey(ctx context.Context, c Claim) (ClaimResult, error) {
	return m.keys.claim(ctx, c)
}

// CompleteKey stores the first answer of the request that owns the key.
func (m *Meta) CompleteKey(ctx context.Context, keyHash []byte, _ int, status int, body []byte) error {
	return m.keys.complete(ctx, keyHash, 0, status, body)
}

// ReleaseKey forgets a pending claim.
func (m *Meta) ReleaseKey(ctx context.Context, keyHash []byte, _ int) error {
	return m.keys.release(ctx, keyHash, 0)
}

// PurgeExpiredKeys deletes up to limit expired idempotency keys of the metadata store.
func (m *Meta) PurgeExpiredKeys(ctx context.Context, limit int) (int64, error) {
	res, err := m.db.ExecContext(ctx, "DELETE FROM idempotency_keys WHERE expires_at < UTC_TIMESTAMP(6) LIMIT ?", limit)
	if err != nil {
		return 0, metaError("purge idempotency keys", err)
	}
	return res.RowsAffected()
}
