package shard_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/testdb"
)

// twoGatewayStores returns two stores over one fresh shard database that owns partition 3: two
// gateways, each with its own pools (and so its own database sessions).
func twoGatewayStores(t *testing.T) (a, b *shard.Store) {
	t.Helper()
	ctx := context.Background()
	dsn := testdb.Server(t).NewDatabase(t, "claims")
	if err := shard.MigrateUp(ctx, dsn, shard.StoreSchema); err != nil {
		t.Fatal(err)
	}
	open := func() *shard.Store {
		st, err := shard.Open("shard-c", dsn, shard.PoolOptions{MaxOpen: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b = open(), open()
	if err := a.Mover().SetFences(ctx, inventory.FenceOwned, []int{3}); err != nil {
		t.Fatal(err)
	}
	return a, b
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func claimOf(key, request string, wait time.Duration) shard.Claim {
	return shard.Claim{Key: hash(key), Request: hash(request), Partition: 3, Wait: wait, Lease: 30 * time.Second, Keep: 24 * time.Hour}
}

// A claim is held by its request's session lock: another gateway waits for it (and gets the
// stored answer as soon as it is stored), a different request is a conflict at once, and a
// claim whose gateway is gone is taken over at once, without any lease.
func TestClaimLiveness(t *testing.T) {
	ctx := context.Background()
	a, b := twoGatewayStores(t)

	first, err := a.ClaimKey(ctx, claimOf("k1", "req", 0))
	if err != nil || !first.Acquired || first.Takeover || first.Lock == nil {
		t.Fatalf("first claim = %+v, %v; want acquired with a lock", first, err)
	}
	if res, err := b.ClaimKey(ctx, claimOf("k1", "req", 0)); err != nil || !res.InProgress {
		t.Errorf("claim while held = %+v, %v; want in progress", res, err)
	}
	if _, err := b.ClaimKey(ctx, claimOf("k1", "other", time.Second)); !inventory.IsCode(err, inventory.CodeIdempotencyConflict) {
		t.Errorf("other request while held: %v, want idempotency_conflict at once", err)
	}
	// A waiter is handed the answer as soon as the holder stores it and lets go.
	type result struct {
		res     shard.ClaimResult
		err     error
		elapsed time.Duration
	}
	waited := make(chan result, 1)
	go func() {
		start := time.Now()
		res, err := b.ClaimKey(ctx, claimOf("k1", "req", 20*time.Second))
		waited <- result{res, err, time.Since(start)}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := a.CompleteKey(ctx, hash("k1"), 3, 201, []byte(`{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	first.Lock.Release()
	w := <-waited
	if w.err != nil || !w.res.Done || w.res.Status != 201 || string(w.res.Body) != `{"ok":true}` || w.elapsed > 10*time.Second {
		t.Errorf("waiter = %+v, %v after %s; want the stored answer", w.res, w.err, w.elapsed)
	}
	t.Logf("waiter answered %s after it started (the holder stored its answer after 200ms)", w.elapsed.Round(time.Millisecond))

	// A claim whose gateway is gone (the connection of its lock closed, as when the process
	// dies) is taken over at once.
	held, err := a.ClaimKey(ctx, claimOf("k2", "req", 0))
	if err != nil || !held.Acquired {
		t.Fatalf("claim = %+v, %v", held, err)
	}
	shard.CrashLockForTest(held.Lock)
	start := time.Now()
	took, err := b.ClaimKey(ctx, claimOf("k2", "req", 20*time.Second))
	if err != nil || !took.Acquired || !took.Takeover {
		t.Fatalf("claim after the holder died = %+v, %v; want a takeover", took, err)
	}
	t.Logf("takeover %s after the holder's connections closed", time.Since(start).Round(time.Millisecond))
	if err := b.ReleaseKey(ctx, hash("k2"), 3); err != nil {
		t.Fatal(err)
	}
	took.Lock.Release()
	if res, err := a.ClaimKey(ctx, claimOf("k2", "req", 0)); err != nil || !res.Acquired || res.Takeover {
		t.Errorf("claim after a release = %+v, %v; want a fresh claim", res, err)
	} else {
		res.Lock.Release()
	}
}

// A key's home record binds it to its first request: the same request may record it again,
// another is idempotency_conflict; once forgotten the key is free; a partition the shard does
// not own is partition_moved.
func TestKeyHomeRecord(t *testing.T) {
	ctx := context.Background()
	a, _ := twoGatewayStores(t)
	key := hash("home-key")
	if err := a.RecordKeyHome(ctx, key, hash("r1"), 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordKeyHome(ctx, key, hash("r1"), 3, time.Hour); err != nil {
		t.Errorf("same request again: %v", err)
	}
	if err := a.RecordKeyHome(ctx, key, hash("r2"), 3, time.Hour); !inventory.IsCode(err, inventory.CodeIdempotencyConflict) {
		t.Errorf("another request: %v, want idempotency_conflict", err)
	}
	if err := a.ForgetKeyHome(ctx, key, hash("r2")); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordKeyHome(ctx, key, hash("r2"), 3, time.Hour); !inventory.IsCode(err, inventory.CodeIdempotencyConflict) {
		t.Errorf("forgetting another request's record removed it: %v", err)
	}
	if err := a.ForgetKeyHome(ctx, key, hash("r1")); err != nil {
		t.Fatal(err)
	}
	if err := a.RecordKeyHome(ctx, key, hash("r2"), 3, time.Hour); err != nil {
		t.Errorf("after forgetting: %v", err)
	}
	if err := a.RecordKeyHome(ctx, hash("elsewhere"), hash("r1"), 4, time.Hour); !inventory.IsCode(err, inventory.CodePartitionMoved) {
		t.Errorf("partition not owned: %v, want partition_moved", err)
	}
	// A home record is not a claim of the key.
	if res, err := a.ClaimKey(ctx, claimOf("home-key", "r9", 0)); err != nil || !res.Acquired {
		t.Errorf("claim of a key with a home record = %+v, %v", res, err)
	} else {
		res.Lock.Release()
	}
}

// A deadlock or lock wait timeout that reaches the store's edge is a busy shard: 503
// shard_unavailable naming no down shard (reason lock_contention), never an internal error.
func TestDeadlockIsBusyNotInternal(t *testing.T) {
	a, _ := twoGatewayStores(t)
	for _, n := range []uint16{1213, 1205} {
		err := shard.ClassifyForTest(a, &mysql.MySQLError{Number: n, Message: "lock trouble"})
		var de *inventory.Error
		if !errors.As(err, &de) || de.Code != inventory.CodeShardUnavailable || de.Details["reason"] != "lock_contention" {
			t.Errorf("MySQL %d at the store's edge = %v, want shard_unavailable (lock_contention)", n, err)
		}
	}
	if err := shard.ClassifyForTest(a, &mysql.MySQLError{Number: 1064}); inventory.ErrorCode(err) != inventory.CodeInternal {
		t.Errorf("a syntax error = %v (%s), want an internal error", err, inventory.ErrorCode(err))
	}
}

// The metadata store's claims work like a shard's, without partitions.
func TestMetaClaims(t *testing.T) {
	ctx := context.Background()
	m := keysMeta(t) // a migrated metadata store
	res, err := m.ClaimKey(ctx, claimOf("wh", "create", 0))
	if err != nil || !res.Acquired {
		t.Fatalf("claim = %+v, %v", res, err)
	}
	if err := m.CompleteKey(ctx, hash("wh"), 0, 201, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	res.Lock.Release()
	if res, err := m.ClaimKey(ctx, claimOf("wh", "create", 0)); err != nil || !res.Done || res.Status != 201 {
		t.Errorf("replay = %+v, %v; want the stored answer", res, err)
	}
	if _, err := m.ClaimKey(ctx, claimOf("wh", "other", 0)); !inventory.IsCode(err, inventory.CodeIdempotencyConflict) {
		t.Errorf("another request: %v, want idempotency_conflict", err)
	}
	if _, err := m.PurgeExpiredKeys(ctx, 10); err != nil {
		t.Error(err)
	}
}
