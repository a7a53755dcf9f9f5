package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// keysCluster returns a config over a fresh, migrated metadata database, and the store.
func keysCluster(t *testing.T) (string, *shard.Meta) {
	t.Helper()
	dsn := testdb.Server(t).NewDatabase(t, "meta")
	return writeConfig(t, dsn), clustertest.MetaStore(t, dsn)
}

var tokenPattern = regexp.MustCompile(`ssk_[a-z2-7]{12}_[A-Za-z0-9_-]{43}`)

func TestKeysCreateListRevoke(t *testing.T) {
	cfg, meta := keysCluster(t)
	ctx := context.Background()

	code, stdout, stderr := runCLI(t, "keys", "create", "--config", cfg, "--name", "order-service",
		"--scopes", "reserve,read", "--expires", "90d", "--rate", "5", "--burst", "10")
	if code != exitOK {
		t.Fatalf("create: exit %d\n%s", code, stderr)
	}
	tokens := tokenPattern.FindAllString(stdout, -1)
	if len(tokens) != 1 || !strings.Contains(stdout, "store it") || !strings.Contains(stdout, "scopes:  read,reserve") ||
		!strings.Contains(stdout, "limit:   5/s, burst 10") {
		t.Fatalf("create output must show the key exactly once with a warning to store it:\n%s", stdout)
	}
	textKey := tokens[0]

	code, stdout, stderr = runCLI(t, "keys", "create", "--config", cfg, "--name", "ops", "--scopes", "admin", "--json")
	if code != exitOK || !strings.Contains(stderr, "only once") {
		t.Fatalf("create --json: exit %d\n%s", code, stderr)
	}
	var created createdKeyReport
	if err := json.Unmarshal([]byte(stdout), &created); err != nil {
		t.Fatalf("create --json: %v\n%s", err, stdout)
	}
	if !tokenPattern.MatchString(created.Secret) || created.Name != "ops" || created.Status != "active" ||
		created.ExpiresAt != nil || len(created.Scopes) != 1 || created.Scopes[0] != "admin" {
		t.Errorf("created = %+v", created)
	}

	// Both keys authenticate against what the metadata store holds.
	cache := auth.NewCache(meta, auth.CacheOptions{})
	if err := cache.Load(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := cache.Authenticate(http.Header{"Authorization": {"Bearer " + textKey}})
	if err != nil || p.Name != "order-service" || p.Scopes.String() != "read,reserve" || p.Rate != 5 || p.Burst != 10 {
		t.Errorf("the printed key authenticates as %+v, %v", p, err)
	}
	if _, err := cache.Authenticate(http.Header{"Authorization": {"Bearer " + created.Secret}}); err != nil {
		t.Errorf("the --json key: %v", err)
	}
	textID := p.KeyID

	code, stdout, _ = runCLI(t, "keys", "list", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, textID) || !strings.Contains(stdout, "order-service") ||
		strings.Count(stdout, "active") != 2 {
		t.Errorf("list: exit %d\n%s", code, stdout)
	}
	assertNoSecrets(t, stdout, meta, textKey, created.Secret)

	// Revoke by id; the second time changes nothing; a leaked whole key is accepted as well.
	code, stdout, stderr = runCLI(t, "keys", "revoke", textID, "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "revoked API key "+textID) {
		t.Fatalf("revoke: exit %d\n%s%s", code, stdout, stderr)
	}
	code, stdout, _ = runCLI(t, "keys", "revoke", textKey, "--config", cfg, "--json")
	var rev revokeReport
	if err := json.Unmarshal([]byte(stdout), &rev); err != nil || code != exitOK || !rev.AlreadyRevoked || rev.Status != "revoked" || rev.ID != textID {
		t.Errorf("second revoke (by whole key): exit %d, %+v, %v\n%s", code, rev, err, stdout)
	}
	code, stdout, _ = runCLI(t, "keys", "revoke", textID, "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "already revoked") {
		t.Errorf("third revoke: exit %d\n%s", code, stdout)
	}
	code, _, stderr = runCLI(t, "keys", "revoke", "aaaaaaaaaaaa", "--config", cfg)
	if code != exitFailed || !strings.Contains(stderr, "not found") {
		t.Errorf("revoke of an unknown id: exit %d, want 1\n%s", code, stderr)
	}

	code, stdout, _ = runCLI(t, "keys", "list", "--config", cfg, "--json")
	var list keyListReport
	if err := json.Unmarshal([]byte(stdout), &list); err != nil || code != exitOK || len(list.Keys) != 2 {
		t.Fatalf("list --json: exit %d, %v\n%s", code, err, stdout)
	}
	if k := list.Keys[0]; k.ID != textID || k.Status != "revoked" || k.RevokedAt == nil || k.ExpiresAt == nil ||
		k.ExpiresAt.Sub(time.Now()) < 89*24*time.Hour || k.ExpiresAt.Sub(time.Now()) > 90*24*time.Hour {
		t.Errorf("first key = %+v, want revoked, expiring in 90 days", k)
	}
	if list.Keys[1].Status != "active" {
		t.Errorf("second key = %+v, want active", list.Keys[1])
	}
	assertNoSecrets(t, stdout, meta, textKey, created.Secret)

	if err := cache.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cache.Authenticate(http.Header{"Authorization": {"Bearer " + textKey}}); !errors.Is(err, auth.ErrRevokedKey) {
		t.Errorf("revoked key: %v, want ErrRevokedKey", err)
	}
}

// assertNoSecrets fails when out shows a key, a key's secret part or a stored hash.
func assertNoSecrets(t *testing.T, out string, meta *shard.Meta, keys ...string) {
	t.Helper()
	if strings.Contains(out, auth.KeyPrefix) {
		t.Errorf("output shows a key:\n%s", out)
	}
	for _, k := range keys {
		if strings.Contains(out, k[17:]) {
			t.Errorf("output shows a secret:\n%s", out)
		}
	}
	stored, err := meta.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stored {
		for _, enc := range []string{string(k.SecretHash), hex.EncodeToString(k.SecretHash)} {
			if strings.Contains(strings.ToLower(out), enc) {
				t.Errorf("output shows the hash of %s:\n%s", k.ID, out)
			}
		}
	}
}

func TestKeysUsageAndFailures(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	unreachable := writeConfig(t, "root@tcp(127.0.0.1:1)/meta?timeout=1s")
	create := func(extra ...string) []string {
		return append([]string{"keys", "create", "--config", missing}, extra...)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		code    int
		message string
	}{
		{"keys without subcommand", []string{"keys"}, exitUsage, "needs a subcommand"},
		{"create without --config", []string{"keys", "create", "--name", "a", "--scopes", "read"}, exitUsage, "needs --config"},
		{"create without --name", create("--scopes", "read"), exitUsage, "needs --name"},
		{"create without --scopes", create("--name", "a"), exitUsage, "needs --scopes"},
		{"create blank name", create("--name", " ", "--scopes", "read"), exitUsage, "--name"},
		{"create control character in name", create("--name", "a\nb", "--scopes", "read"), exitUsage, "--name"},
		{"create unknown scope", create("--name", "a", "--scopes", "read,root"), exitUsage, `unknown scope "root"`},
		{"create empty scopes", create("--name", "a", "--scopes", ""), exitUsage, "--scopes"},
		{"create bad expiry", create("--name", "a", "--scopes", "read", "--expires", "soon"), exitUsage, "--expires"},
		{"create zero expiry", create("--name", "a", "--scopes", "read", "--expires", "0d"), exitUsage, "--expires"},
		{"create negative expiry", create("--name", "a", "--scopes", "read", "--expires", "-1h"), exitUsage, "--expires"},
		{"create past expiry", create("--name", "a", "--scopes", "read", "--expires", "2001-01-01T00:00:00Z"), exitUsage, "not in the future"},
		{"create negative rate", create("--name", "a", "--scopes", "read", "--rate", "-1"), exitUsage, "--rate"},
		{"create NaN rate", create("--name", "a", "--scopes", "read", "--rate", "NaN"), exitUsage, "--rate"},
		{"create negative burst", create("--name", "a", "--scopes", "read", "--burst", "-1"), exitUsage, "--burst"},
		{"create rate not a number", create("--name", "a", "--scopes", "read", "--rate", "fast"), exitUsage, "invalid argument"},
		{"create extra argument", create("--name", "a", "--scopes", "read", "x"), exitUsage, "unknown command"},
		{"revoke without id", []string{"keys", "revoke", "--config", missing}, exitUsage, "accepts 1 arg"},
		{"revoke bad id", []string{"keys", "revoke", "Nope!", "--config", missing}, exitUsage, "not a key id"},
		{"list without --config", []string{"keys", "list"}, exitUsage, "needs --config"},
		{"list, missing config file", []string{"keys", "list", "--config", missing}, exitFailed, "no such file"},
		{"create, missing config file", create("--name", "a", "--scopes", "read"), exitFailed, "no such file"},
		{"list, metadata store down", []string{"keys", "list", "--config", unreachable}, exitFailed, "metadata store is unavailable"},
		{"create, metadata store down", []string{"keys", "create", "--config", unreachable, "--name", "a", "--scopes", "read"}, exitFailed, "metadata store is unavailable"},
		{"revoke, metadata store down", []string{"keys", "revoke", "aaaaaaaaaaaa", "--config", unreachable}, exitFailed, "metadata store is unavailable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, stdout, stderr)
			}
			if !strings.HasPrefix(stderr, "error: ") && !strings.Contains(stderr, "\nerror: ") || !strings.Contains(stderr, tt.message) {
				t.Errorf("stderr has no \"error: \" line mentioning %q:\n%s", tt.message, stderr)
			}
			if tokenPattern.MatchString(stdout + stderr) {
				t.Errorf("a failed command printed a key:\n%s%s", stdout, stderr)
			}
		})
	}
}

func TestParseExpires(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time // zero = error
	}{
		{"90d", now.Add(90 * 24 * time.Hour)},
		{"12h", now.Add(12 * time.Hour)},
		{"30m", now.Add(30 * time.Minute)},
		{"1d12h", now.Add(36 * time.Hour)},
		{"1d", now.Add(24 * time.Hour)},
		{"36500d", now.Add(36500 * 24 * time.Hour)},
		{"2030-02-01T00:00:00Z", time.Date(2030, 2, 1, 0, 0, 0, 0, time.UTC)},
		{"2030-01-02T01:00:00+02:00", time.Date(2030, 1, 1, 23, 0, 0, 0, time.UTC)},
		{"2030-01-01T12:00:00Z", time.Time{}}, // now is not the future
		{"2029-12-31T00:00:00Z", time.Time{}},
		{"36501d", time.Time{}},
		{"0d", time.Time{}},
		{"0s", time.Time{}},
		{"-1d", time.Time{}},
		{"1d-1h", time.Time{}},
		{"d", time.Time{}},
		{"90", time.Time{}},
		{"1w", time.Time{}},
		{"", time.Time{}},
		{"2030-02-01", time.Time{}},
	} {
		got, err := parseExpires(tc.in, now)
		if tc.want.IsZero() {
			if err == nil {
				t.Errorf("parseExpires(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) || got.Location() != time.UTC {
			t.Errorf("parseExpires(%q) = %v, %v; want %v (UTC)", tc.in, got, err, tc.want)
		}
	}
}
