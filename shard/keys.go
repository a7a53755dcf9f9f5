package shard

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/inventory"
)

// The metadata store holds the API keys (only a hash of each secret), a version counter that
// every change to them bumps, and random per-cluster secrets.

// Key is an API key as the metadata store holds it. The secret itself is never stored, only its
// SHA-256.
type Key struct {
	// ID is the key's short public id (part of the key itself, so lookup is by id).
	ID   string
	Name string
	// SecretHash is the SHA-256 of the key's secret bytes (32 bytes).
	SecretHash []byte
	// Scopes are the scope names the key grants, e.g. ["read", "write"].
	Scopes []string
	// Rate (requests per second) and Burst are the key's own token bucket; 0 means the
	// gateway's configured default.
	Rate      float64
	Burst     int
	CreatedAt time.Time
	ExpiresAt time.Time // zero: never expires
	RevokedAt time.Time // zero: not revoked
	UpdatedAt time.Time
}

// Revoked reports whether the key was revoked.
func (k Key) Revoked() bool { return !k.RevokedAt.IsZero() }

// ExpiredAt reports whether the key has expired at t.
func (k Key) ExpiredAt(t time.Time) bool { return !k.ExpiresAt.IsZero() && !t.Before(k.ExpiresAt) }

// KeySet is every API key as of one version of the keys.
type KeySet struct {
	Version int64
	Keys    []Key
}

// Limits of the api_keys columns.
const (
	maxKeyID     = 16
	maxKeyName   = 128
	maxKeyScopes = 64
	keyHashSize  = 32
)

// validateKey checks k against the columns it is stored in.
func validateKey(k Key) error {
	switch {
	case k.ID == "" || len(k.ID) > maxKeyID || !isASCIIWord(k.ID):
		return inventory.Validation("id", "key id must be 1-%d letters or digits", maxKeyID)
	case k.Name == "" || utf8.RuneCountInString(k.Name) > maxKeyName || !utf8.ValidString(k.Name):
		return inventory.Validation("name", "key name must be 1-%d characters", maxKeyName)
	case len(k.SecretHash) != keyHashSize:
		return inventory.Validation("secret_hash", "key secret hash must be %d bytes", keyHashSize)
	case len(k.Scopes) == 0:
		return inventory.Validation("scopes", "a key needs at least one scope")
	case k.Rate < 0 || math.IsNaN(k.Rate) || math.IsInf(k.Rate, 0):
		return inventory.Validation("rate", "rate must be a finite number >= 0")
	case k.Burst < 0 || k.Burst > math.MaxInt32:
		return inventory.Validation("burst", "burst must be 0-%d", math.MaxInt32)
	}
	for _, s := range k.Scopes {
		if s == "" || !isASCIIWord(s) {
			return inventory.Validation("scopes", "scope %q is not a scope name", s)
		}
	}
	if len(strings.Join(k.Scopes, ",")) > maxKeyScopes {
		return inventory.Validation("scopes", "too many scopes")
	}
	return nil
}

func isASCIIWord(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

const keyColumns = "id, name, secret_hash, scopes, rate, burst, created_at, expires_at, revoked_at, updated_at"

// bumpKeysVersion increments the keys' version counter. It locks the counter row, so it is
// called first in every transaction that changes api_keys: changes are serialised, and a reader
// that sees version V sees every change up to V.
func bumpKeysVersion(ctx context.Context, tx *sql.Tx) error {
	res, err := tx.ExecContext(ctx, "UPDATE api_keys_version SET version = version + 1 WHERE id = 1")
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errors.New("api_keys_version has no row: the metadata schema is incomplete")
	}
	return nil
}

// CreateKey stores a new API key (k.ID, Name, SecretHash, Scopes, Rate, Burst, ExpiresAt; the
// timestamps are the metadata store's) and returns it as stored. A duplicate id is a conflict.
func (m *Meta) CreateKey(ctx context.Context, k Key) (Key, error) {
	if err := validateKey(k); err != nil {
		return Key{}, err
	}
	var expires sql.NullTime
	if !k.ExpiresAt.IsZero() {
		expires = sql.NullTime{Time: k.ExpiresAt.UTC().Truncate(time.Microsecond), Valid: true}
	}
	var out Key
	err := tryTx(ctx, m.db, func(tx *sql.Tx) error { // one attempt; an error rolls it back
		if err := bumpKeysVersion(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, name, secret_hash, scopes, rate, burst, created_at, expires_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(6), ?, UTC_TIMESTAMP(6))`,
			k.ID, k.Name, k.SecretHash, strings.Join(k.Scopes, ","), k.Rate, k.Burst, expires)
		if isDuplicate(err) {
			return inventory.Errorf(inventory.CodeConflict, "an API key with id %s exists", k.ID)
		}
		if err != nil {
			return err
		}
		out, err = scanKey(tx.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?", k.ID))
		return err
	})
	if err != nil {
		return Key{}, metaError("create key", err)
	}
	return out, nil
}

// RevokeKey revokes the key with the given id and returns it, and whether this call revoked it.
// Revoking a revoked key changes nothing and returns it with its first revocation time (and
// false); an unknown id is not_found.
func (m *Meta) RevokeKey(ctx context.Context, id string) (Key, bool, error) {
	var out Key
	err := tryTx(ctx, m.db, func(tx *sql.Tx) error { // one attempt; an error rolls it back
		// The counter first, as in CreateKey (one lock order); rolled back when nothing changes.
		if err := bumpKeysVersion(ctx, tx); err != nil {
			return err
		}
		k, err := scanKey(tx.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ? FOR UPDATE", id))
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Errorf(inventory.CodeNotFound, "API key %s not found", id)
		}
		if err != nil {
			return err
		}
		if k.Revoked() {
			out = k
			return errUnchanged
		}
		if _, err := tx.ExecContext(ctx, "UPDATE api_keys SET revoked_at = UTC_TIMESTAMP(6), updated_at = UTC_TIMESTAMP(6) WHERE id = ?", id); err != nil {
			return err
		}
		out, err = scanKey(tx.QueryRowContext(ctx, "SELECT "+keyColumns+" FROM api_keys WHERE id = ?", id))
		return err
	})
	if errors.Is(err, errUnchanged) {
		return out, false, nil
	}
	if err != nil {
		return Key{}, false, metaError("revoke key", err)
	}
	return out, true, nil
}

// errUnchanged rolls back a transaction that found nothing to change.
var errUnchanged = errors.New("unchanged")

// ListKeys returns every API key, revoked and expired ones included, oldest first.
func (m *Meta) ListKeys(ctx context.Context) ([]Key, error) {
	keys, err := listKeys(ctx, m.db)
	if err != nil {
		return nil, metaError("list keys", err)
	}
	return keys, nil
}

// KeysVersion returns the keys' version: it grows with every change to the keys, so a cache
// reloads them only when it moved.
func (m *Meta) KeysVersion(ctx context.Context) (int64, error) {
	var v int64
	if err := m.db.QueryRowContext(ctx, "SELECT version FROM api_keys_version WHERE id = 1").Scan(&v); err != nil {
		return 0, metaError("keys version", err)
	}
	return v, nil
}

// LoadKeys returns every API key and the version they are at, read in one snapshot.
func (m *Meta) LoadKeys(ctx context.Context) (KeySet, error) {
	var set KeySet
	err := func() error {
		tx, err := m.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := tx.QueryRowContext(ctx, "SELECT version FROM api_keys_version WHERE id = 1").Scan(&set.Version); err != nil {
			return err
		}
		set.Keys, err = listKeys(ctx, tx)
		return err
	}()
	if err != nil {
		return KeySet{}, metaError("load keys", err)
	}
	return set, nil
}

type keyQueryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// listKeys is the one query that reads the keys.
func listKeys(ctx context.Context, q keyQueryer) ([]Key, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+keyColumns+" FROM api_keys ORDER BY created_at, id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := []Key{}
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func scanKey(row interface{ Scan(...any) error }) (Key, error) {
	var k Key
	var scopes string
	var expires, revoked sql.NullTime
	if err := row.Scan(&k.ID, &k.Name, &k.SecretHash, &scopes, &k.Rate, &k.Burst, &k.CreatedAt, &expires, &revoked, &k.UpdatedAt); err != nil {
		return Key{}, err
	}
	if scopes != "" {
		k.Scopes = strings.Split(scopes, ",")
	}
	if expires.Valid {
		k.ExpiresAt = expires.Time
	}
	if revoked.Valid {
		k.RevokedAt = revoked.Time
	}
	return k, nil
}

// secretSize is the size of a per-cluster secret.
const secretSize = 32

// Secret returns the per-cluster secret with the given name (e.g. the key of cursor HMACs),
// creating it from 32 random bytes on first use. Concurrent first uses on several gateways all
// get the one value that was stored first.
func (m *Meta) Secret(ctx context.Context, name string) ([]byte, error) {
	if name == "" || len(name) > 64 {
		return nil, inventory.Validation("name", "secret name must be 1-64 characters")
	}
	fresh := make([]byte, secretSize)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("meta store: secret %s: %w", name, err)
	}
	if _, err := m.db.ExecContext(ctx, "INSERT IGNORE INTO secrets (name, value, created_at) VALUES (?, ?, UTC_TIMESTAMP(6))", name, fresh); err != nil {
		return nil, metaError("secret "+name, err)
	}
	var value []byte
	if err := m.db.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&value); err != nil {
		return nil, metaError("secret "+name, err)
	}
	return value, nil
}

// metaError converts the error of a metadata store operation at the store's edge: domain errors
// pass unchanged, a connectivity failure becomes meta_unavailable (503), a missing table says to
// run the migrations, and other driver errors are wrapped with the operation.
func metaError(op string, err error) error {
	var de *inventory.Error
	if errors.As(err, &de) || errors.Is(err, context.Canceled) {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, 1053, 1203, 1290, 1927: // too many connections, shutdown, read-only, killed
			return metaUnavailable(err)
		case 1146: // no such table
			return fmt.Errorf("meta store: %s: %w (run `shardstock migrate up`)", op, err)
		}
		return fmt.Errorf("meta store: %s: %w", op, err)
	}
	return metaUnavailable(err)
}

// metaUnavailable is the meta_unavailable error for a connectivity failure. The message does not
// repeat the cause (it would show the store's address to API clients); Error() and logs do.
func metaUnavailable(err error) error {
	return &inventory.Error{Code: inventory.CodeMetaUnavailable, Message: "the metadata store is unavailable", Err: err}
}
