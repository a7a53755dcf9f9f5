package shard

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/shardstock/shardstock/inventory"
)

// A deleted webhook receives nothing once its DELETE has returned, whichever gateway relays
// which shard. Deliveries run under a hold: a transaction that keeps a shared lock on the
// webhook's row (HoldWebhook) while a batch is sent. DeleteWebhook's DELETE needs the row
// exclusively, so it waits for every batch in flight and commits only after they ended; a batch
// that starts later finds no row and sends nothing. Cursors of a deleted webhook are never
// created again (OpenSinkCursor and RepositionSink check the row under the same lock), so none
// are left behind.

// maxWebhookHolds bounds the connections the holds use (their own pool): when every one is in
// use, further batches wait for one; nothing else in the metadata store waits for them.
const maxWebhookHolds = 16

// ErrSinkGone means the sink's webhook was deleted: its delivery loops stop.
var ErrSinkGone = errors.New("event sink was deleted")

// webhookOf returns the webhook id of a sink name (WebhookSink), and false for other sinks.
func webhookOf(sink string) (string, bool) {
	return strings.CutPrefix(sink, WebhookSink(""))
}

// HoldWebhook takes a shared lock on the webhook's row and returns the function that releases
// it (call it exactly once). While the hold lasts, DeleteWebhook cannot commit. It fails with
// ErrSinkGone when the webhook does not exist. Holds of different batches (shards, gateways)
// share the lock; only a delete waits.
func (sk *Sinks) HoldWebhook(ctx context.Context, id string) (release func(), err error) {
	// The transaction outlives ctx: a batch whose context ends still has sends returning, and
	// the lock must last until they did (release). Taking the lock honours ctx.
	tx, err := sk.m.holds.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return nil, metaErr(err)
	}
	var found string
	err = tx.QueryRowContext(ctx, "SELECT id FROM webhooks WHERE id = ? LOCK IN SHARE MODE", id).Scan(&found)
	if err != nil {
		_ = tx.Rollback()
		if errors.Is(err, sql.ErrNoRows) {
			return nil, ErrSinkGone
		}
		return nil, metaErr(err)
	}
	return func() { _ = tx.Rollback() }, nil
}

// lockWebhook takes a shared lock on the webhook's row in tx; not_found when it does not exist.
func lockWebhook(ctx context.Context, tx *sql.Tx, id string) error {
	var found string
	err := tx.QueryRowContext(ctx, "SELECT id FROM webhooks WHERE id = ? LOCK IN SHARE MODE", id).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return inventory.Errorf(inventory.CodeNotFound, "webhook %s not found", id)
	}
	return metaErr(err)
}
