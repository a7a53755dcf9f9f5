package shard

import (
	"context"
	"database/sql"
)

// afterChanges runs inside the transaction of every mutation, right after its change-log rows
// are written: derived state that must never drift from the stock itself (lots consumed first
// expired first out, low-stock alerts) is maintained here, atomically with the change.
func afterChanges(ctx context.Context, tx *sql.Tx, cs []change) error {
	if err := consumeLots(ctx, tx, cs); err != nil {
		return err
	}
	return maintainAlerts(ctx, tx, cs)
}
