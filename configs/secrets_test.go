package configs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEnvName(t *testing.T) {
	for key, want := range map[string]string{
		"meta_dsn":        "SHARDSTOCK_META_DSN",
		"events.nats_url": "SHARDSTOCK_EVENTS_NATS_URL",
	} {
		if got := EnvName(key); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, want)
		}
	}
}

// Precedence: a non-empty environment variable, then <key>_file, then the YAML value.
func TestLoadSecretsPrecedence(t *testing.T) {
	dir := t.TempDir()
	const (
		yamlDSN = "app:yaml-pw@tcp(127.0.0.1:3306)/meta"
		fileDSN = "app:file-pw@tcp(127.0.0.1:3306)/meta"
		envDSN  = "app:env-pw@tcp(127.0.0.1:3306)/meta"
	)
	dsnFile := writeFile(t, dir, "meta.dsn", fileDSN+"\n")
	natsFile := writeFile(t, dir, "nats.url", "  nats://u:nats-pw@127.0.0.1:4222\n\n")
	tests := []struct {
		name, yaml, env string
		want            string
	}{
		{"yaml only", "meta_dsn: " + yamlDSN + "\n", "", yamlDSN},
		{"file over yaml", "meta_dsn: " + yamlDSN + "\nmeta_dsn_file: " + dsnFile + "\n", "", fileDSN},
		{"file alone", "meta_dsn_file: " + dsnFile + "\n", "", fileDSN},
		{"env over file and yaml", "meta_dsn: " + yamlDSN + "\nmeta_dsn_file: " + dsnFile + "\n", envDSN, envDSN},
		{"env alone", "listen: 127.0.0.1:9\n", envDSN, envDSN},
		{"empty env is unset", "meta_dsn_file: " + dsnFile + "\n", "", fileDSN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SHARDSTOCK_META_DSN", tt.env)
			cfg, err := Load(writeFile(t, dir, "c.yaml", tt.yaml+"events:\n  nats_url_file: "+natsFile+"\n"))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.MetaDSN != tt.want {
				t.Errorf("meta_dsn = %q, want %q", cfg.MetaDSN, tt.want)
			}
			if cfg.Events.NATSURL != "nats://u:nats-pw@127.0.0.1:4222" {
				t.Errorf("events.nats_url = %q, want the file's content without white space", cfg.Events.NATSURL)
			}
		})
	}
	t.Run("env for a nested key", func(t *testing.T) {
		t.Setenv("SHARDSTOCK_EVENTS_NATS_URL", "nats://u:env-pw@127.0.0.1:4222")
		cfg, err := Load(writeFile(t, dir, "c.yaml", "meta_dsn: x\nevents:\n  nats_url_file: "+natsFile+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Events.NATSURL != "nats://u:env-pw@127.0.0.1:4222" {
			t.Errorf("events.nats_url = %q, want the environment's", cfg.Events.NATSURL)
		}
	})
}

// A bad secret file is an error naming the key and the path, never the content.
func TestLoadSecretFileErrors(t *testing.T) {
	t.Setenv("SHARDSTOCK_META_DSN", "")
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", " \n")
	huge := writeFile(t, dir, "huge", "app:huge-secret@tcp(h)/m"+strings.Repeat("x", maxSecretFile))
	tests := []struct{ file, want string }{
		{filepath.Join(dir, "missing"), "meta_dsn_file: read " + filepath.Join(dir, "missing") + ": no such file"},
		{empty, "meta_dsn_file: " + empty + " is empty"},
		{huge, "meta_dsn_file: " + huge + " is larger than"},
	}
	for _, tt := range tests {
		_, err := Load(writeFile(t, dir, "c.yaml", "meta_dsn_file: "+tt.file+"\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("meta_dsn_file %s: err = %v, want it to contain %q", tt.file, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "huge-secret") {
			t.Errorf("error shows the file's content: %v", err)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"root@tcp(127.0.0.1:3306)/meta", "root@tcp(127.0.0.1:3306)/meta"},
		{"app:s3cret@tcp(127.0.0.1:3306)/meta?parseTime=true", "app:****@tcp(127.0.0.1:3306)/meta?parseTime=true"},
		{"app:@tcp(h:1)/m", "app:@tcp(h:1)/m"},
		// The driver's grammar: the password runs to the last '@' before the last '/'.
		{"app:p@ss/w:rd@tcp(h:1)/m?tls=prod", "app:****@tcp(h:1)/m?tls=prod"},
		{"app:pw@unix(/var/run/mysqld.sock)/m", "app:****@unix(/var/run/mysqld.sock)/m"},
		{"app:pw@/m", "app:****@/m"},
		// Not a valid DSN: still no password.
		{"app:pw@tcp(h", "app:****@tcp(h"},
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"nats://user:pw@127.0.0.1:4222", "nats://user:****@127.0.0.1:4222"},
		{"nats://user:p#w/x@127.0.0.1:4222", "nats://user:****@127.0.0.1:4222"},
		{"nats://a:pw1@h1:4222,nats://b:pw2@h2:4222", "nats:****@h2:4222"},
		{"mysql://app:pw@h/db", "mysql:****@h/db"}, // reads as a DSN too: its password would be "//app:pw"
		{"", ""},
	}
	for _, tt := range tests {
		if got := Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRedact: whatever the driver would take as the password never survives Redact.
func FuzzRedact(f *testing.F) {
	f.Add("app", "s3cret", "tcp(127.0.0.1:3306)/m?x=1")
	f.Add("u", "p@/:#", "/m")
	f.Add("nats://u", "pw", "h:4222")
	f.Fuzz(func(t *testing.T, user, pw, rest string) {
		if pw == "" || strings.Contains(rest, "@") || strings.Contains(user, ":") || strings.Contains(user, "@") {
			t.Skip()
		}
		if !strings.Contains(rest, "/") && !strings.Contains(user, "://") {
			rest += "/"
		}
		dsn := user + ":" + pw + "@" + rest
		got := Redact(dsn)
		if strings.Contains(got, ":"+pw+"@") {
			t.Fatalf("Redact(%q) = %q still holds the password", dsn, got)
		}
	})
}
