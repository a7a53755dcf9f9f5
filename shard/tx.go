package shard

import (
	"context"
	"database/sql"
	"errors"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// MaxTxAttempts is how many times RetryTx runs a transaction that keeps failing on deadlocks or
// lock wait timeouts.
const MaxTxAttempts = 10

// RetryTx runs fn in a transaction on db and commits it. A transaction that fails on a deadlock
// or a lock wait timeout (MySQL 1213, 1205) is run again, up to MaxTxAttempts times while ctx is
// live, after a random pause of up to 2^attempt ms (at most 64 ms: "full jitter", so that the
// transactions that deadlocked together do not meet again at the same moment); onRetry, when not
// nil, is called before each new attempt. The last error is returned as the driver or fn gave
// it: the shard store converts it at its edge (classify: a deadlock that is still there is 503
// shard_unavailable); the bench's direct-SQL baseline, which mirrors the store's transactions,
// uses it as it is.
func RetryTx(ctx context.Context, db *sql.DB, onRetry func(), fn func(tx *sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := tryTx(ctx, db, fn)
		if err == nil || !isRetryable(err) || attempt >= MaxTxAttempts || ctx.Err() != nil {
			return err
		}
		if onRetry != nil {
			onRetry()
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 6))) + 100*time.Microsecond
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return err
		}
	}
}

func tryTx(ctx context.Context, db *sql.DB, fn func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isRetryable reports a deadlock or a lock wait timeout: the transaction was rolled back and may
// simply run again.
func isRetryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	return false
}

// multiRowInsert returns one multi-row statement: head (“INSERT INTO t (a, b) VALUES ”), n
// copies of row (“(?,?)”, or with SQL expressions such as UTC_TIMESTAMP(6)) separated by
// commas, then tail (“ ON DUPLICATE KEY UPDATE …”, or empty).
func multiRowInsert(head, row string, n int, tail string) string {
	var b strings.Builder
	b.Grow(len(head) + n*(len(row)+1) + len(tail))
	b.WriteString(head)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(row)
	}
	b.WriteString(tail)
	return b.String()
}

// placeholders returns n comma-separated question marks, for IN lists and value rows.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
