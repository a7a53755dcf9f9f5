package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testdb"
	"github.com/shardstock/shardstock/tools/testlog"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// runCLI runs the command line in-process and returns the exit code and both outputs.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLIContext(t, context.Background(), args...)
}

func runCLIContext(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// commandPaths lists every command of the tree, e.g. ["migrate", "down"].
func commandPaths(cmd *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, c := range cmd.Commands() {
		path := append(append([]string{}, prefix...), c.Name())
		out = append(out, path)
		out = append(out, commandPaths(c, path)...)
	}
	return out
}

func TestHelpOfEveryCommand(t *testing.T) {
	a := &app{stdout: io.Discard, stderr: io.Discard}
	paths := append([][]string{{}}, commandPaths(a.rootCommand(), nil)...)
	if len(paths) < 9 {
		t.Fatalf("found only %d commands: %v", len(paths), paths)
	}
	for _, path := range paths {
		args := append(append([]string{}, path...), "--help")
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if !strings.Contains(stdout, "Usage:") {
				t.Errorf("help has no Usage section:\n%s", stdout)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	tests := []struct {
		name    string
		args    []string
		code    int
		message string // in stderr
	}{
		{"unknown flag", []string{"topology", "show", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"unknown global flag", []string{"--bogus"}, exitUsage, "unknown flag"},
		{"unknown command", []string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{"unknown subcommand", []string{"migrate", "sideways"}, exitUsage, `unknown command "sideways"`},
		{"no command", nil, exitUsage, "needs a subcommand"},
		{"group without subcommand", []string{"topology"}, exitUsage, "needs a subcommand"},
		{"extra argument", []string{"topology", "show", "extra", "--config", missing}, exitUsage, "unknown command"},
		{"missing --config", []string{"topology", "show"}, exitUsage, "needs --config"},
		{"migrate down 0", []string{"migrate", "down", "0", "--yes", "--config", missing}, exitUsage, "positive number"},
		{"migrate down not a number", []string{"migrate", "down", "x", "--yes", "--config", missing}, exitUsage, "positive number"},
		{"migrate down without N", []string{"migrate", "down", "--yes", "--config", missing}, exitUsage, "accepts 1 arg"},
		{"migrate down without --yes", []string{"migrate", "down", "1", "--config", missing}, exitUsage, "--yes"},
		{"init bad --shard", []string{"init", "--config", missing, "--shard", "shard-1"}, exitUsage, "want NAME=DSN"},
		{"init --shard without database", []string{"init", "--config", missing, "--shard", "s1=root@tcp(127.0.0.1:3306)/"}, exitUsage, "names no database"},
		{"init bad shard name", []string{"init", "--config", missing, "--shard", "bad name=root@tcp(127.0.0.1:3306)/x"}, exitUsage, "--shard"},
		{"init duplicate shard", []string{"init", "--config", missing, "--shard", "a=root@tcp(h)/x", "--shard", "a=root@tcp(h)/y"}, exitUsage, "given twice"},
		{"init without shards", []string{"init", "--config", missing}, exitUsage, "at least one --shard"},
		{"init zero partitions", []string{"init", "--config", missing, "--partitions", "0", "--shard", "a=root@tcp(h)/x"}, exitUsage, "partition"},
		{"init partitions not a number", []string{"init", "--partitions", "many"}, exitUsage, "invalid argument"},
		{"dev zero shards", []string{"dev", "--shards", "0"}, exitUsage, "--shards"},
		{"bad log level", []string{"--log-level", "loud", "serve", "--config", writeConfig(t, "root@tcp(127.0.0.1:1)/meta")}, exitUsage, "--log-level"},
		{"topology show, missing config file", []string{"topology", "show", "--config", missing}, exitFailed, "no such file"},
		{"migrate version, missing config file", []string{"migrate", "version", "--config", missing}, exitFailed, "no such file"},
		{"serve, missing config file", []string{"serve", "--config", missing}, exitFailed, "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.HasPrefix(stderr, "error: ") && !strings.Contains(stderr, "\nerror: ") {
				t.Errorf("stderr does not start with \"error: \":\n%s", stderr)
			}
			if !strings.Contains(stderr, tt.message) {
				t.Errorf("stderr does not mention %q:\n%s", tt.message, stderr)
			}
		})
	}
}

// writeConfig writes a config naming metaDSN to a temporary file and returns its path.
func writeConfig(t *testing.T, metaDSN string) string {
	t.Helper()
	cfg := configs.Default()
	cfg.MetaDSN = metaDSN
	path := filepath.Join(t.TempDir(), "shardstock.yaml")
	if err := configs.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	return path
}

// newCluster creates a config over a fresh metadata database and returns it with n shard
// --shard flags over fresh databases.
func newCluster(t *testing.T, n int) (string, []string) {
	t.Helper()
	srv := testdb.Server(t)
	cfg := writeConfig(t, srv.NewDatabase(t, "meta"))
	var flags []string
	for i := 1; i <= n; i++ {
		flags = append(flags, "--shard", fmt.Sprintf("shard-%d=%s", i, srv.NewDatabase(t, fmt.Sprintf("shard%d", i))))
	}
	return cfg, flags
}

func TestInitShowMigrate(t *testing.T) {
	cfg, shardFlags := newCluster(t, 3)

	code, stdout, stderr := runCLI(t, append([]string{"init", "--config", cfg}, shardFlags...)...)
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	for _, want := range []string{"1024 partitions over 3 shards", "shard-1", "shard-3", "resharding job: none"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("init output lacks %q:\n%s", want, stdout)
		}
	}

	code, stdout, stderr = runCLI(t, "topology", "show", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("topology show: exit %d\n%s", code, stderr)
	}
	var topo topologyReport
	if err := json.Unmarshal([]byte(stdout), &topo); err != nil {
		t.Fatalf("topology show --json: %v\n%s", err, stdout)
	}
	if topo.Version != 1 || topo.Partitions != 1024 || len(topo.Shards) != 3 || topo.Job != nil {
		t.Fatalf("topology = %+v, want version 1, 1024 partitions over 3 shards, no job", topo)
	}
	total, share := 0, 0.0
	for i, s := range topo.Shards {
		if want := fmt.Sprintf("shard-%d", i+1); s.Name != want || s.State != "active" || s.Partitions == 0 {
			t.Errorf("shard %d = %+v, want %s active with partitions", i, s, want)
		}
		total += s.Partitions
		share += s.SharePercent
	}
	if total != 1024 || share < 99.9 || share > 100.1 {
		t.Errorf("shards own %d partitions (%.2f%%), want 1024 (100%%)", total, share)
	}

	code, stdout, stderr = runCLI(t, "topology", "show", "--config", cfg)
	if code != exitOK || !strings.Contains(stdout, "partitions:       1024") || !strings.Contains(stdout, "resharding job: none") {
		t.Fatalf("topology show: exit %d\n%s%s", code, stdout, stderr)
	}

	code, stdout, stderr = runCLI(t, "migrate", "version", "--config", cfg, "--json")
	if code != exitOK {
		t.Fatalf("migrate version: exit %d\n%s%s", code, stdout, stderr)
	}
	var versions migrationReport
	if err := json.Unmarshal([]byte(stdout), &versions); err != nil {
		t.Fatalf("migrate version --json: %v\n%s", err, stdout)
	}
	wantTargets := []string{"meta", "shard-1", "shard-2", "shard-3"}
	if !versions.OK || len(versions.Targets) != len(wantTargets) {
		t.Fatalf("migrate version = %+v, want ok over %v", versions, wantTargets)
	}
	for i, tg := range versions.Targets {
		if tg.Target != wantTargets[i] || tg.Version == nil || *tg.Version == 0 || tg.Dirty || tg.Error != "" {
			t.Errorf("target %d = %+v, want %s at a clean version", i, tg, wantTargets[i])
		}
	}

	code, stdout, stderr = runCLI(t, "migrate", "up", "--config", cfg)
	if code != exitOK {
		t.Fatalf("migrate up: exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "meta: up to date (version ") || !strings.HasPrefix(lines[3], "shard-3: up to date") {
		t.Errorf("migrate up output:\n%s", stdout)
	}

	code, _, stderr = runCLI(t, append([]string{"init", "--config", cfg}, shardFlags...)...)
	if code != exitFailed || !strings.Contains(stderr, "refuses") {
		t.Fatalf("second init: exit %d, want 1 with a refusal; stderr:\n%s", code, stderr)
	}
}

func TestInitFailsOnAnUnreachableShard(t *testing.T) {
	cfg, shardFlags := newCluster(t, 1)
	shardFlags = append(shardFlags, "--shard", "shard-2=root@tcp(127.0.0.1:1)/gone?timeout=1s")
	code, _, stderr := runCLI(t, append([]string{"init", "--config", cfg}, shardFlags...)...)
	if code != exitFailed || !strings.Contains(stderr, "shard-2") {
		t.Fatalf("init with an unreachable shard: exit %d, want 1 naming shard-2; stderr:\n%s", code, stderr)
	}
	code, _, stderr = runCLI(t, "topology", "show", "--config", cfg)
	if code != exitFailed || !strings.Contains(stderr, "shardstock init") {
		t.Fatalf("topology show without a topology: exit %d, want 1 suggesting init; stderr:\n%s", code, stderr)
	}
}

func TestMigrateReportsEachShard(t *testing.T) {
	cfg, shardFlags := newCluster(t, 2)
	if code, _, stderr := runCLI(t, append([]string{"init", "--config", cfg, "--partitions", "64"}, shardFlags...)...); code != exitOK {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	// Lose shard-2's database: every migrate command must report it and exit 1.
	_, dsn2, _ := strings.Cut(shardFlags[3], "=")
	dropDatabase(t, dsn2)

	code, stdout, _ := runCLI(t, "migrate", "version", "--config", cfg)
	if code != exitFailed {
		t.Fatalf("migrate version: exit %d, want 1\n%s", code, stdout)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "meta: version ") || !strings.HasPrefix(lines[1], "shard-1: version ") ||
		!strings.HasPrefix(lines[2], "shard-2: FAILED") {
		t.Errorf("migrate version output:\n%s", stdout)
	}

	code, stdout, _ = runCLI(t, "migrate", "up", "--config", cfg, "--json")
	var report migrationReport
	if err := json.Unmarshal([]byte(stdout), &report); err != nil || code != exitFailed {
		t.Fatalf("migrate up --json: exit %d, %v\n%s", code, err, stdout)
	}
	if report.OK || len(report.Targets) != 3 || report.Targets[1].Error != "" || report.Targets[2].Error == "" {
		t.Errorf("migrate up report = %+v, want shard-2 failed only", report)
	}

	// down rolls back the shards first and leaves the metadata store alone when one failed.
	code, stdout, _ = runCLI(t, "migrate", "down", "1", "--yes", "--config", cfg)
	if code != exitFailed || !strings.Contains(stdout, "shard-1: migrated from version ") ||
		!strings.Contains(stdout, "meta: FAILED: skipped") {
		t.Errorf("migrate down: exit %d\n%s", code, stdout)
	}
}

// dropDatabase drops the database dsn names.
func dropDatabase(t *testing.T, dsn string) {
	t.Helper()
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	name := cfg.DBName
	cfg.DBName = ""
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE `" + name + "`"); err != nil {
		t.Fatal(err)
	}
}

// waitFor200 polls url (sending the API key token, when given) until it answers 200, failing
// when the server exits first.
func waitFor200(t *testing.T, url string, exited <-chan int, token ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case code := <-exited:
			t.Fatalf("server exited with %d before %s answered", code, url)
		default:
		}
		resp, err := get(url, token...)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within 30s", url)
}

func TestNoServerBinaryExplainsInstall(t *testing.T) {
	err := noServerBinary(fmt.Errorf("%w (looked for mariadbd)", mysqlproc.ErrNoBinary))
	if !errors.Is(err, mysqlproc.ErrNoBinary) || !strings.Contains(err.Error(), "docker compose") {
		t.Errorf("error = %v, want ErrNoBinary with a docker compose pointer", err)
	}
	if _, err := mysqlproc.FindBinary(); err != nil {
		for _, want := range []string{"apt-get install", "brew install"} {
			if !strings.Contains(noServerBinary(err).Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
	}
}

func TestDevStartsServesAndStops(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB servers")
	}
	if _, err := mysqlproc.FindBinary(); err != nil {
		t.Skipf("no server binary: %v", err)
	}
	dir := t.TempDir()
	port, err := mysqlproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	var firstToken string
	for round, wantDemo := range []string{"demo: done", "demo: catalogue already loaded"} {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan int, 1)
		var stdout, stderr testlog.Buffer
		go func() {
			done <- run(ctx, []string{"dev", "--shards", "2", "--dir", dir, "--listen", addr, "--demo"}, &stdout, &stderr)
		}()
		waitForOutput(t, &stdout, "Press Ctrl-C to stop", done) // the banner's last line
		token := devToken(t, dir)
		if round == 0 {
			firstToken = token
		} else if token != firstToken {
			t.Errorf("round %d: the admin key was not reused", round)
		}
		if !strings.Contains(stdout.String(), token) || !strings.Contains(stdout.String(), `-H "Authorization: Bearer $T"`) {
			t.Errorf("round %d: the banner does not show the key and how to send it:\n%s", round, stdout.String())
		}
		if resp, err := get("http://" + addr + "/v1/products/DEMO-TSHIRT-001"); err != nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("round %d: a read without the key: %v %v", round, resp, err)
		}
		waitFor200(t, "http://"+addr+"/v1/products/DEMO-TSHIRT-001", done, token)
		waitFor200(t, devMetricsURL(t, dir), done)
		code, topo, stderrTopo := runCLI(t, "topology", "show", "--config", filepath.Join(dir, "shardstock.yaml"), "--json")
		if code != exitOK || !strings.Contains(topo, `"shard-2"`) {
			t.Errorf("round %d: topology show over the dev config: exit %d\n%s%s", round, code, topo, stderrTopo)
		}
		cancel()
		if code := <-done; code != exitOK {
			t.Fatalf("round %d: dev exit %d\n%s\n%s", round, code, stdout.String(), stderr.String())
		}
		for _, want := range []string{wantDemo, "shardstock dev is ready", "http://" + addr, "loopback receivers allowed"} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("round %d: output lacks %q:\n%s", round, want, stdout.String())
			}
		}
		if yaml, err := os.ReadFile(filepath.Join(dir, "shardstock.yaml")); err != nil || !strings.Contains(string(yaml), "allow_loopback: true") {
			t.Errorf("round %d: the dev config does not allow loopback webhook receivers: %v\n%s", round, err, yaml)
		}
		if !strings.Contains(stderr.String(), "every server stopped") {
			t.Errorf("round %d: servers not reported stopped:\n%s", round, stderr.String())
		}
	}
}

// waitForOutput waits until out contains want, failing when the command exits first.
func waitForOutput(t *testing.T, out *testlog.Buffer, want string, exited <-chan int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-exited:
			t.Fatalf("exited with %d before printing %q:\n%s", code, want, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 60s:\n%s", want, out.String())
		}
	}
}
