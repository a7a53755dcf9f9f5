package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

func TestParseAge(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"90d", 90 * 24 * time.Hour, true},
		{"36h", 36 * time.Hour, true},
		{"2160h", 2160 * time.Hour, true},
		{"1d12h", 36 * time.Hour, true},
		{"0", 0, true},
		{"90m", 90 * time.Minute, true},
		{"", 0, false},
		{"90", 0, false},
		{"ninety days", 0, false},
		{"-5d", 0, false},
		{"-1h", 0, false},
		{"1d-1h", 0, false},
		{"5x", 0, false},
		{"d", 0, false},
		{"99999999999999999999d", 0, false},
	}
	for _, tt := range tests {
		got, err := parseAge(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseAge(%q) = %v, %v; want %v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestArchiveCLIUsage(t *testing.T) {
	cfg := writeConfig(t, "root@tcp(127.0.0.1:1)/meta")
	out := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		message string
	}{
		{"bad --older-than", []string{"archive", "--config", cfg, "--older-than", "ninety", "--out", out}, "--older-than"},
		{"negative --older-than", []string{"archive", "--config", cfg, "--older-than", "-3d", "--out", out}, "--older-than"},
		{"missing --older-than", []string{"archive", "--config", cfg, "--out", out}, "needs --older-than"},
		{"missing --out", []string{"archive", "--config", cfg, "--older-than", "90d"}, "needs --out"},
		{"missing --config", []string{"archive", "--older-than", "90d", "--out", out}, "needs --config"},
		{"negative --chunk", []string{"archive", "--config", cfg, "--older-than", "90d", "--out", out, "--chunk", "-1"}, "--chunk"},
		{"extra argument", []string{"archive", "now", "--config", cfg, "--older-than", "90d", "--out", out}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage || !strings.Contains(stderr, tt.message) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, exitUsage, tt.message, stderr)
			}
		})
	}
}

// The operator's path: a dry run, the archive with --json, verify clean afterwards, and a
// refusal (exit 1) while a resharding job is active.
func TestArchiveCLI(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	g := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil)
	for _, s := range c.SKUsPerShard(t, "CLI") {
		g.Product(s, 0, "7")
		g.Expect(g.Do("POST", "/v1/products/"+s+"/adjustments", `{"delta": 3, "reason": "receive"}`), 200, "")
		g.Expect(g.Do("POST", "/v1/products/"+s+"/adjustments", `{"delta": -2, "reason": "damage"}`), 200, "")
	}
	g.Close()
	ctx := context.Background()
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	for name, st := range c.Stores(t) {
		if _, err := st.DB().Exec("UPDATE changes SET created_at = created_at - INTERVAL 100 DAY"); err != nil {
			t.Fatal(err)
		}
		seq, err := st.Relay().MaxChangeSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := meta.Sinks().SetRelayHorizon(ctx, name, seq, "test"); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, c.MetaDSN)
	out := filepath.Join(t.TempDir(), "archive")

	code, stdout, stderr := runCLI(t, "archive", "--config", cfg, "--older-than", "90d", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "would archive") {
		t.Fatalf("dry run: exit %d\n%s%s", code, stdout, stderr)
	}
	t.Logf("dry run:\n%s", stdout)
	code, stdout, stderr = runCLI(t, "archive", "--config", cfg, "--older-than", "2160h", "--out", out, "--json", "--chunk", "2")
	if code != exitOK {
		t.Fatalf("archive: exit %d\n%s%s", code, stdout, stderr)
	}
	var rep migrate.ArchiveReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("archive --json: %v\n%s", err, stdout)
	}
	if !rep.Complete || rep.RowsArchived == 0 || rep.RowsDeleted != rep.RowsArchived || !strings.HasPrefix(rep.Dir, out) {
		t.Errorf("report %+v", rep)
	}
	t.Logf("progress:\n%s", stderr)
	if !strings.Contains(stderr, "deleted") {
		t.Errorf("no progress lines:\n%s", stderr)
	}
	if man, err := migrate.ReadManifest(rep.Dir); err != nil || man.RowsArchived != rep.RowsArchived {
		t.Errorf("manifest %+v %v", man, err)
	}
	if code, stdout, _ := runCLI(t, "verify", "--config", cfg, "--quiescent"); code != exitOK {
		t.Errorf("verify after archive: exit %d\n%s", code, stdout)
	}

	if _, err := meta.DB().Exec("INSERT INTO reshard_jobs (state, from_version, spec_json) VALUES ('planned', 1, '{}')"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "archive", "--config", cfg, "--older-than", "90d", "--out", out)
	if code != exitFailed || !strings.Contains(stderr, "resharding job is active") {
		t.Errorf("archive during a job: exit %d\n%s", code, stderr)
	}
}
