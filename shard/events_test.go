package shard_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

func TestEventType(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		dOn, dRe int64
		want     string
	}{
		{"create", 0, 0, shard.EventProductUpdated},
		{"product", 0, 0, shard.EventProductUpdated},
		{"receive", 5, 0, shard.EventStockChanged},
		{"correction", -1, 0, shard.EventStockChanged},
		{"count", 0, 0, ""},
		{"reserve", 0, 2, shard.EventStockChanged},
		{"sale", -2, 0, shard.EventStockChanged},
		{"commit", -2, -2, shard.EventStockChanged},
		{"release", 0, -2, shard.EventStockChanged},
		{"expire", -3, 0, shard.EventStockChanged},
		{"lot:L1", -3, 0, shard.EventStockChanged},
		{"tombstone", 0, 0, ""},
		{"alert:low", 0, 0, shard.EventStockLow},
		{"alert:out", 0, 0, shard.EventStockOut},
		{"alert:resolved", 0, 0, shard.EventStockRestored},
		{"h:pending", 0, 0, ""},
		{"h:held", 0, 0, shard.EventReservationHeld},
		{"h:committing", 0, 0, ""},
		{"h:committed", 0, 0, shard.EventReservationCommitted},
		{"h:releasing", 0, 0, ""},
		{"h:released", 0, 0, shard.EventReservationReleased},
		{"h:expiring", 0, 0, ""},
		{"h:expired", 0, 0, shard.EventReservationExpired},
	} {
		if got := shard.EventType(inventory.ChangeKind(tc.kind), tc.dOn, tc.dRe); got != tc.want {
			t.Errorf("EventType(%q, %d, %d) = %q, want %q", tc.kind, tc.dOn, tc.dRe, got, tc.want)
		}
	}
}

func eventsStore(t *testing.T) *shard.Store {
	t.Helper()
	return clustertest.ShardStore(t, "s1")
}

const insertChange = `INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at)
	VALUES (1, 'A', 'receive', 1, 0, '', UTC_TIMESTAMP(6))`

// One relay lease per shard: a second taker is refused while it is held and gets it once the
// holder releases it; a holder whose connection is killed finds out.
func TestRelayLeaseIsExclusive(t *testing.T) {
	ctx := context.Background()
	st := eventsStore(t)
	a, err := st.Relay().AcquireRelayLease(ctx)
	if err != nil || a == nil {
		t.Fatalf("first lease: %v %v", a, err)
	}
	if b, err := st.Relay().AcquireRelayLease(ctx); err != nil || b != nil {
		t.Fatalf("second lease while held: %v %v", b, err)
	}
	if err := a.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	a.Release()
	b, err := st.Relay().AcquireRelayLease(ctx)
	if err != nil || b == nil {
		t.Fatalf("lease after release: %v %v", b, err)
	}
	defer b.Release()
	// Kill the holder's connection: the lock goes with it.
	var id int64
	if err := st.DB().QueryRowContext(ctx, "SELECT IS_USED_LOCK(CONCAT('shardstock_relay:', DATABASE()))").Scan(&id); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB().ExecContext(ctx, "KILL ?", id); err != nil {
		t.Fatal(err)
	}
	if err := b.Check(ctx); !errors.Is(err, shard.ErrRelayLeaseLost) {
		t.Fatalf("check after kill: %v, want ErrRelayLeaseLost", err)
	}
	// The server drops a killed session's locks asynchronously; a relay retries on its next poll.
	var c *shard.RelayLease
	for deadline := time.Now().Add(5 * time.Second); c == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c, err = st.Relay().AcquireRelayLease(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if c == nil {
		t.Fatal("lease not free 5 s after its holder was killed")
	}
	c.Release()
}

// The horizon never passes a change that is still in flight (a lower seq committing after a
// higher one), and passes a rolled-back seq only after the gap grace.
func TestAdvanceHorizon(t *testing.T) {
	ctx := context.Background()
	st := eventsStore(t)
	db := st.DB()
	for i := 0; i < 3; i++ {
		if _, err := db.ExecContext(ctx, insertChange); err != nil {
			t.Fatal(err)
		}
	}
	lease, err := st.Relay().AcquireRelayLease(ctx)
	if err != nil || lease == nil {
		t.Fatalf("lease: %v %v", lease, err)
	}
	defer lease.Release()
	h, err := lease.AdvanceHorizon(ctx, 0, 100, time.Hour)
	if err != nil || h != 3 {
		t.Fatalf("horizon %d %v, want 3", h, err)
	}

	// seq 4 in flight, seq 5 committed: the horizon waits for 4.
	slow, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := slow.ExecContext(ctx, insertChange); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, insertChange); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = slow.Commit()
	}()
	start := time.Now()
	h, err = lease.AdvanceHorizon(ctx, h, 100, time.Hour)
	if err != nil || h != 5 {
		t.Fatalf("horizon %d %v, want 5 (after waiting for the in-flight seq 4)", h, err)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("horizon did not wait for the in-flight change (%s)", waited)
	}
	evs, last, err := st.Relay().ReadEvents(ctx, 3, h, 100, nil)
	if err != nil || len(evs) != 2 || last != 5 || evs[0].ID != shard.EventID("s1", 4) || evs[1].ID != shard.EventID("s1", 5) {
		t.Fatalf("events after 3: %+v last %d err %v", evs, last, err)
	}

	// seq 6 rolled back, seq 7 committed: the hole is passed after the grace only.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, insertChange); err != nil {
		t.Fatal(err)
	}
	_ = tx.Rollback()
	if _, err := db.ExecContext(ctx, insertChange); err != nil {
		t.Fatal(err)
	}
	grace := 200 * time.Millisecond
	if h, err = lease.AdvanceHorizon(ctx, h, 100, grace); err != nil || h != 5 {
		t.Fatalf("horizon %d %v, want 5 before the grace", h, err)
	}
	time.Sleep(grace)
	if h, err = lease.AdvanceHorizon(ctx, h, 100, grace); err != nil || h != 7 {
		t.Fatalf("horizon %d %v, want 7 after the grace", h, err)
	}
}

// A row copied by a reshard keeps its origin's event id, and the reader may drop it.
func TestReadEventsCopiedRows(t *testing.T) {
	ctx := context.Background()
	st := eventsStore(t)
	db := st.DB()
	if _, err := db.ExecContext(ctx, `INSERT INTO products (sku, partition_id, name, scale, on_hand, created_at, updated_at)
		VALUES ('A', 1, 'a', 3, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at, origin_shard, origin_seq)
		VALUES (1, 'A', 'receive', 12500, 0, '', UTC_TIMESTAMP(6), 'old', 41), (1, 'A', 'reserve', 0, 500, 'r1', UTC_TIMESTAMP(6), 'old', 42),
		(1, '', 'h:pending', 0, 0, 'r1', UTC_TIMESTAMP(6), NULL, NULL), (1, '', 'h:held', 0, 0, 'r1', UTC_TIMESTAMP(6), NULL, NULL)`); err != nil {
		t.Fatal(err)
	}
	evs, last, err := st.Relay().ReadEvents(ctx, 0, 100, 100, func(origin string, seq uint64) bool { return origin == "old" && seq <= 41 })
	if err != nil || last != 4 || len(evs) != 2 {
		t.Fatalf("events: %+v last %d err %v", evs, last, err)
	}
	if e := evs[0]; e.ID != shard.EventID("old", 42) || e.Type != shard.EventStockChanged || fmt.Sprint(e.Data["delta_reserved"]) != "0.5" ||
		fmt.Sprint(e.Data["delta_available"]) != "-0.5" || e.Seq != 2 || e.SKU != "A" {
		t.Errorf("copied reserve: %+v", e)
	}
	if e := evs[1]; e.ID != shard.EventID("s1", 4) || e.Type != shard.EventReservationHeld || e.Data["reservation_id"] != "r1" {
		t.Errorf("header: %+v", e)
	}
}

// The archive may delete change rows below the low watermark: what the relay resolved and every
// sink cursor (a webhook without a cursor on a shard counts as 0) consumed.
func TestEventLowWatermarks(t *testing.T) {
	ctx := context.Background()
	m := clustertest.MetaStore(t, testdb.Server(t).NewDatabase(t, "meta"))
	if _, err := m.DB().ExecContext(ctx, "INSERT INTO shards (name, dsn, state) VALUES ('a', 'x', 'active'), ('b', 'x', 'active'), ('c', 'x', 'active')"); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		shard string
		seq   uint64
	}{{"a", 100}, {"b", 50}, {"a", 90}} {
		if err := m.Sinks().SetRelayHorizon(ctx, h.shard, h.seq, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Sinks().CreateWebhook(ctx, shard.Webhook{ID: "w1", URL: "http://x", Secret: "s", CreatedAt: time.Now()},
		map[string]uint64{"a": 80}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Sinks().OpenSinkCursor(ctx, shard.SinkNATS, "a", 95); err != nil {
		t.Fatal(err)
	}
	got, err := m.Sinks().EventLowWatermarks(ctx, []string{"a", "b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	// a: horizon 100, webhook 80, nats 95 → 81; b: the webhook has no cursor there yet → 1;
	// c: the relay never ran → 1.
	if got["a"] != 81 || got["b"] != 1 || got["c"] != 1 {
		t.Errorf("watermarks %v", got)
	}
	if err := m.Sinks().AdvanceSinkCursor(ctx, shard.WebhookSink("w1"), "a", 0, 99); err != nil {
		t.Fatal(err)
	}
	if err := m.Sinks().RepositionSink(ctx, shard.WebhookSink("w1"), map[string]uint64{"b": 50}); err != nil {
		t.Fatal(err)
	}
	if err := m.Sinks().AdvanceSinkCursor(ctx, shard.WebhookSink("w1"), "b", 0, 60); !errors.Is(err, shard.ErrCursorMoved) {
		t.Errorf("advance with a stale epoch: %v", err)
	}
	got, _ = m.Sinks().EventLowWatermarks(ctx, []string{"a", "b"})
	if got["a"] != 96 || got["b"] != 51 {
		t.Errorf("watermarks %v", got)
	}
}
