package shard_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// keysMeta opens a migrated metadata store on a fresh database of the shared test server.
func keysMeta(t *testing.T) *shard.Meta {
	t.Helper()
	return clustertest.MetaStore(t, testdb.Server(t).NewDatabase(t, "meta_keys"))
}

func testKey(id string, secret []byte) shard.Key {
	h := sha256.Sum256(secret)
	return shard.Key{ID: id, Name: "svc " + id, SecretHash: h[:], Scopes: []string{"read", "write"}}
}

func TestKeysCreateListRevokeRoundTrip(t *testing.T) {
	ctx := context.Background()
	meta := keysMeta(t)
	v0, err := meta.KeysVersion(ctx)
	if err != nil || v0 != 0 {
		t.Fatalf("initial version = %d, %v; want 0", v0, err)
	}
	expires := time.Now().UTC().Add(90 * 24 * time.Hour).Truncate(time.Microsecond)
	a := testKey("aaaa", []byte("secret-a"))
	a.ExpiresAt, a.Rate, a.Burst = expires, 2.5, 10
	created, err := meta.CreateKey(ctx, a)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.ID != "aaaa" || created.CreatedAt.IsZero() || !created.ExpiresAt.Equal(expires) || created.Revoked() ||
		created.Rate != 2.5 || created.Burst != 10 || !bytes.Equal(created.SecretHash, a.SecretHash) {
		t.Errorf("created = %+v", created)
	}
	if _, err := meta.CreateKey(ctx, testKey("bbbb", []byte("secret-b"))); err != nil {
		t.Fatal(err)
	}
	if _, err := meta.CreateKey(ctx, testKey("aaaa", []byte("other"))); !inventory.IsCode(err, inventory.CodeConflict) {
		t.Errorf("duplicate id: %v, want conflict", err)
	}
	v1, _ := meta.KeysVersion(ctx)
	if v1 != 2 {
		t.Errorf("version after two creates (and a failed one) = %d, want 2", v1)
	}

	keys, err := meta.ListKeys(ctx)
	if err != nil || len(keys) != 2 || keys[0].ID != "aaaa" || keys[1].ID != "bbbb" {
		t.Fatalf("list = %+v, %v", keys, err)
	}
	if got := fmt.Sprint(keys[1].Scopes); got != "[read write]" || !keys[1].ExpiresAt.IsZero() {
		t.Errorf("key b = %+v", keys[1])
	}

	revoked, changed, err := meta.RevokeKey(ctx, "aaaa")
	if err != nil || !changed || !revoked.Revoked() || revoked.UpdatedAt.Before(created.UpdatedAt) {
		t.Fatalf("revoke = %+v, %v, %v", revoked, changed, err)
	}
	v2, _ := meta.KeysVersion(ctx)
	if v2 != v1+1 {
		t.Errorf("version after revoke = %d, want %d", v2, v1+1)
	}
	again, changed, err := meta.RevokeKey(ctx, "aaaa")
	if err != nil || changed || !again.RevokedAt.Equal(revoked.RevokedAt) {
		t.Errorf("second revoke = %+v, %v, %v; want the first revocation unchanged", again, changed, err)
	}
	if v, _ := meta.KeysVersion(ctx); v != v2 {
		t.Errorf("a no-op revoke moved the version to %d", v)
	}
	if _, _, err := meta.RevokeKey(ctx, "nope"); !inventory.IsCode(err, inventory.CodeNotFound) {
		t.Errorf("revoke unknown: %v, want not_found", err)
	}

	set, err := meta.LoadKeys(ctx)
	if err != nil || set.Version != v2 || len(set.Keys) != 2 || !set.Keys[0].Revoked() || set.Keys[1].Revoked() {
		t.Fatalf("load = %+v, %v", set, err)
	}
	if !set.Keys[0].ExpiredAt(expires) || set.Keys[0].ExpiredAt(expires.Add(-time.Microsecond)) || set.Keys[1].ExpiredAt(time.Now().Add(1e6*time.Hour)) {
		t.Error("ExpiredAt is wrong")
	}
}

func TestCreateKeyValidates(t *testing.T) {
	meta := keysMeta(t)
	good := testKey("abc", []byte("s"))
	for name, mutate := range map[string]func(*shard.Key){
		"empty id":      func(k *shard.Key) { k.ID = "" },
		"id too long":   func(k *shard.Key) { k.ID = "abcdefghijklmnopq" },
		"id with _":     func(k *shard.Key) { k.ID = "a_b" },
		"empty name":    func(k *shard.Key) { k.Name = "" },
		"short hash":    func(k *shard.Key) { k.SecretHash = k.SecretHash[:31] },
		"no scopes":     func(k *shard.Key) { k.Scopes = nil },
		"comma scope":   func(k *shard.Key) { k.Scopes = []string{"read,write"} },
		"negative rate": func(k *shard.Key) { k.Rate = -1 },
		"negative burst": func(k *shard.Key) {
			k.Burst = -1
		},
	} {
		k := good
		k.Scopes = append([]string(nil), good.Scopes...)
		mutate(&k)
		if _, err := meta.CreateKey(context.Background(), k); !inventory.IsCode(err, inventory.CodeValidation) {
			t.Errorf("%s: %v, want validation_failed", name, err)
		}
	}
	if keys, _ := meta.ListKeys(context.Background()); len(keys) != 0 {
		t.Errorf("invalid keys were stored: %+v", keys)
	}
}

// Concurrent creates and revokes each bump the version exactly once (the counter row
// serialises them), so a cache polling the version never misses a change.
func TestKeysVersionCountsEveryChange(t *testing.T) {
	ctx := context.Background()
	meta := keysMeta(t)
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprintf("k%d", i)
			if _, err := meta.CreateKey(ctx, testKey(id, []byte(id))); err != nil {
				errs <- err
				return
			}
			if _, _, err := meta.RevokeKey(ctx, id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	set, err := meta.LoadKeys(ctx)
	if err != nil || set.Version != 2*n || len(set.Keys) != n {
		t.Fatalf("after %d creates and revokes: version %d, %d keys, %v", n, set.Version, len(set.Keys), err)
	}
	for _, k := range set.Keys {
		if !k.Revoked() {
			t.Errorf("key %s not revoked", k.ID)
		}
	}
}

func TestSecretIsCreatedOnceAndShared(t *testing.T) {
	ctx := context.Background()
	meta := keysMeta(t)
	const n = 8
	got := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := meta.Secret(ctx, "cursor-hmac")
			if err != nil {
				t.Error(err)
			}
			got[i] = v
		})
	}
	wg.Wait()
	for i, v := range got {
		if len(v) != 32 || !bytes.Equal(v, got[0]) {
			t.Fatalf("caller %d got %x, caller 0 got %x: want one shared 32-byte secret", i, v, got[0])
		}
	}
	other, err := meta.Secret(ctx, "other")
	if err != nil || bytes.Equal(other, got[0]) {
		t.Errorf("a second secret = %x, %v; want a different value", other, err)
	}
	if _, err := meta.Secret(ctx, ""); !inventory.IsCode(err, inventory.CodeValidation) {
		t.Errorf("empty name: %v", err)
	}
}

// Every key operation against a metadata store that cannot be reached is meta_unavailable.
func TestKeysMetaUnavailable(t *testing.T) {
	meta, err := shard.OpenMeta("root@tcp(127.0.0.1:1)/meta?timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	ctx := context.Background()
	_, errList := meta.ListKeys(ctx)
	_, errVersion := meta.KeysVersion(ctx)
	_, errLoad := meta.LoadKeys(ctx)
	_, errCreate := meta.CreateKey(ctx, testKey("abc", []byte("s")))
	_, _, errRevoke := meta.RevokeKey(ctx, "abc")
	_, errSecret := meta.Secret(ctx, "x")
	for name, err := range map[string]error{"list": errList, "version": errVersion, "load": errLoad,
		"create": errCreate, "revoke": errRevoke, "secret": errSecret} {
		if !inventory.IsCode(err, inventory.CodeMetaUnavailable) {
			t.Errorf("%s: %v, want meta_unavailable", name, err)
		}
	}
}

// Without the 000004 migration the error says what to do.
func TestKeysWithoutMigrationSaysMigrate(t *testing.T) {
	dsn := testdb.Server(t).NewDatabase(t, "meta_nokeys")
	meta, err := shard.OpenMeta(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	_, err = meta.ListKeys(context.Background())
	if err == nil || inventory.IsCode(err, inventory.CodeMetaUnavailable) || !bytes.Contains([]byte(err.Error()), []byte("migrate up")) {
		t.Errorf("list without the table: %v, want a hint to run migrate up", err)
	}
}

// Migration 000004 rolls back and forward cleanly (with 000005, the idempotency claims of the
// metadata store, after it).
func TestKeysMigrationDownAndUp(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.Server(t).NewDatabase(t, "meta_keys_down")
	if err := shard.MigrateUp(ctx, dsn, shard.MetaSchema); err != nil {
		t.Fatal(err)
	}
	if err := shard.MigrateDown(ctx, dsn, shard.MetaSchema, 2); err != nil {
		t.Fatalf("down: %v", err)
	}
	meta, err := shard.OpenMeta(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	for _, table := range []string{"api_keys", "api_keys_version", "secrets", "idempotency_keys"} {
		var n int
		if err := meta.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?", table).Scan(&n); err != nil || n != 0 {
			t.Errorf("table %s after down: %d, %v", table, n, err)
		}
	}
	if err := shard.MigrateUp(ctx, dsn, shard.MetaSchema); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if v, err := meta.KeysVersion(ctx); err != nil || v != 0 {
		t.Errorf("version after up = %d, %v", v, err)
	}
}
