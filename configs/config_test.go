package configs

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg, err := Load(write("meta_dsn: root@tcp(127.0.0.1:3306)/m\nreports:\n  shard_timeout: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Reports.ShardTimeout != 3*time.Second || cfg.Listen != "127.0.0.1:8080" || cfg.Reservation.DefaultTTL != 900*time.Second {
		t.Errorf("defaults not applied: %+v", cfg)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"listen: x\n", "meta_dsn is required"},
		{"meta_dsn: x\nunknown_key: 1\n", "unknown_key"},
		{"meta_dsn: x\nlog:\n  level: loud\n", "log.level"},
		{"meta_dsn: x\nidempotency:\n  retention: 1h\n", "idempotency.retention"},
		{"meta_dsn: x\npool:\n  max_open: 0\n", "pool.max_open"},
		{"meta_dsn: [\n", "config"},
	} {
		_, err := Load(write(bad.yaml))
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Load(%q) = %v, want error mentioning %q", bad.yaml, err, bad.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file accepted")
	}
	// Write then Load round-trips.
	cfg.MetaDSN = "root@tcp(127.0.0.1:1)/x"
	p := filepath.Join(dir, "out.yaml")
	if err := Write(p, cfg); err != nil {
		t.Fatal(err)
	}
	back, err := Load(p)
	if err != nil || !reflect.DeepEqual(back, cfg) {
		t.Errorf("round trip: %v\n%+v\n%+v", err, back, cfg)
	}
}

// The documented example config is exactly the defaults (it doubles as the reference).
func TestExampleConfigIsTheDefaults(t *testing.T) {
	cfg, err := Load("dev.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.MetaDSN = cfg.MetaDSN
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("configs/dev.example.yaml differs from Default():\n%+v\n%+v", cfg, want)
	}
}
