package shard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// DeleteWebhook waits for a hold (a batch of deliveries in flight) and commits after it ended;
// afterwards no hold, cursor or reposition can bring the webhook back.
func TestWebhookHoldDelaysDelete(t *testing.T) {
	ctx := context.Background()
	m := keysMeta(t)
	w := shard.Webhook{ID: "w1", URL: "http://x", Secret: "s", CreatedAt: time.Now()}
	if err := m.Sinks().CreateWebhook(ctx, w, map[string]uint64{"a": 5}); err != nil {
		t.Fatal(err)
	}
	release, err := m.Sinks().HoldWebhook(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Sinks().HoldWebhook(ctx, "w1") // holds share the lock
	if err != nil {
		t.Fatal(err)
	}
	second()
	deleted := make(chan error, 1)
	go func() { deleted <- m.Sinks().DeleteWebhook(ctx, "w1") }()
	select {
	case err := <-deleted:
		t.Fatalf("DeleteWebhook returned (%v) while a hold was taken", err)
	case <-time.After(300 * time.Millisecond):
	}
	release()
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatalf("DeleteWebhook: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("DeleteWebhook still waits after the hold was released")
	}
	if _, err := m.Sinks().HoldWebhook(ctx, "w1"); !errors.Is(err, shard.ErrSinkGone) {
		t.Errorf("hold of a deleted webhook: %v, want ErrSinkGone", err)
	}
	if _, err := m.Sinks().OpenSinkCursor(ctx, shard.WebhookSink("w1"), "b", 0); !errors.Is(err, shard.ErrSinkGone) {
		t.Errorf("cursor of a deleted webhook: %v, want ErrSinkGone", err)
	}
	if err := m.Sinks().RepositionSink(ctx, shard.WebhookSink("w1"), map[string]uint64{"a": 0}); !inventory.IsCode(err, inventory.CodeNotFound) {
		t.Errorf("reposition of a deleted webhook: %v, want not_found", err)
	}
	if pos, err := m.Sinks().SinkPositions(ctx, shard.WebhookSink("w1")); err != nil || len(pos) != 0 {
		t.Errorf("cursors left: %v %v", pos, err)
	}
	// Other sinks still get their cursor created at start.
	if c, err := m.Sinks().OpenSinkCursor(ctx, shard.SinkNATS, "b", 7); err != nil || c.Position != 7 {
		t.Errorf("NATS cursor: %+v %v", c, err)
	}
}

// A shard that cannot be reached is shard_unavailable with a message that names the shard and
// a generic cause only; the address stays in the error's cause, for logs.
func TestUnavailableMessageHidesTheAddress(t *testing.T) {
	st, err := shard.Open("s9", "app:Secret-pw@tcp(127.0.0.1:1)/x?timeout=2s", shard.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = st.Ping(context.Background())
	var de *inventory.Error
	if !errors.As(err, &de) || de.Code != inventory.CodeShardUnavailable || de.Message != "shard s9 is unavailable: connection failed" {
		t.Fatalf("Ping: %#v", err)
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1") || strings.Contains(err.Error(), "Secret-pw") {
		t.Errorf("Error() = %q, want the cause with the address (for logs) and never the password", err)
	}
}
