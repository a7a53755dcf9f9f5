package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAuthDefaultsAndValidation(t *testing.T) {
	dir := t.TempDir()
	load := func(s string) (Config, error) {
		p := filepath.Join(dir, "c.yaml")
		if err := os.WriteFile(p, []byte("meta_dsn: x\n"+s), 0o644); err != nil {
			t.Fatal(err)
		}
		return Load(p)
	}
	cfg, err := load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Auth != (Auth{Mode: AuthKeys, RefreshInterval: time.Second}) {
		t.Errorf("auth defaults = %+v, want keys mode, 1s refresh, unlimited", cfg.Auth)
	}
	cfg, err = load("auth:\n  mode: none\n  refresh_interval: 500ms\n  default_rate: 2.5\n  default_burst: 10\n")
	if err != nil || cfg.Auth != (Auth{Mode: AuthNone, RefreshInterval: 500 * time.Millisecond, DefaultRate: 2.5, DefaultBurst: 10}) {
		t.Errorf("auth = %+v, %v", cfg.Auth, err)
	}
	for _, bad := range []struct{ yaml, want string }{
		{"auth:\n  mode: off\n", "auth.mode"},
		{"auth:\n  mode: \"\"\n", "auth.mode"},
		{"auth:\n  mode: None\n", "auth.mode"},
		{"auth:\n  refresh_interval: 5s\n", "auth.refresh_interval"},
		{"auth:\n  refresh_interval: 0s\n", "auth.refresh_interval"},
		{"auth:\n  default_rate: -1\n", "auth.default_rate"},
		{"auth:\n  default_rate: .nan\n", "auth.default_rate"},
		{"auth:\n  default_burst: -1\n", "auth.default_burst"},
		{"auth:\n  keys: [a]\n", "keys"},
	} {
		if _, err := load(bad.yaml); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%q: %v, want an error naming %s", bad.yaml, err, bad.want)
		}
	}
}
