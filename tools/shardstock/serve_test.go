package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testlog"
)

// get sends a GET to url, with the API key token when given, and returns the answer (body
// closed).
func get(url string, token ...string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if len(token) > 0 && token[0] != "" {
		req.Header.Set("Authorization", "Bearer "+token[0])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// initCluster creates and initialises a two-shard cluster and returns its config path.
func initCluster(t *testing.T) string {
	t.Helper()
	cfg, shardFlags := newCluster(t, 2)
	if code, _, stderr := runCLI(t, append([]string{"init", "--config", cfg, "--partitions", "64"}, shardFlags...)...); code != exitOK {
		t.Fatalf("init: exit %d\n%s", code, stderr)
	}
	return cfg
}

// freeAddr returns a free loopback address.
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := mysqlproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// With auth.mode keys (the default) serve does not start without an active key, and says how
// to create one.
func TestServeRefusesWithoutKeys(t *testing.T) {
	cfg := initCluster(t)
	code, _, stderr := runCLI(t, "serve", "--config", cfg, "--listen", freeAddr(t))
	if code != exitFailed || !strings.Contains(stderr, "no active API key") ||
		!strings.Contains(stderr, "shardstock keys create --config "+cfg+" --name NAME --scopes") {
		t.Fatalf("serve without keys: exit %d\n%s", code, stderr)
	}
}

func TestServeUntilCancelled(t *testing.T) {
	cfg := initCluster(t)
	code, out, stderr := runCLI(t, "keys", "create", "--config", cfg, "--name", "ops", "--scopes", "read,admin", "--json")
	var key struct {
		Secret string `json:"secret"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &key) != nil || key.Secret == "" {
		t.Fatalf("keys create: exit %d\n%s%s", code, out, stderr)
	}
	addr, admin := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errOut testlog.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", cfg, "--listen", addr, "--admin-listen", admin, "--log-format", "text"}, io.Discard, &errOut)
	}()
	waitFor200(t, "http://"+addr+"/readyz", done)
	waitFor200(t, "http://"+admin+"/debug/pprof/", done)
	waitFor200(t, "http://"+admin+"/metrics", done)
	waitFor200(t, "http://"+addr+"/metrics", done, key.Secret)
	for path, want := range map[string]int{"/debug/pprof/": http.StatusNotFound, "/metrics": http.StatusUnauthorized,
		"/v1/products/X-1": http.StatusUnauthorized} {
		if resp, err := get("http://" + addr + path); err != nil || resp.StatusCode != want {
			t.Errorf("GET %s on the API address without a key: %v %v; want %d", path, resp, err, want)
		}
	}
	if resp, err := get("http://"+addr+"/v1/products/X-1", key.Secret); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET of an unknown product with the key: %v %v; want 404", resp, err)
	}
	// A connected event stream must not hold the shutdown up (it used to, until
	// http.shutdown_timeout, and serve then exited 1).
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key.Secret)
	stream, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if line, err := bufio.NewReader(stream.Body).ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("event stream: %q %v", line, err)
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("serve: exit %d after cancel\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancel")
	}
	if !strings.Contains(errOut.String(), "route=/v1/products/{sku}") || !strings.Contains(errOut.String(), "status=401") {
		t.Errorf("no access-log lines naming the route template and status:\n%s", errOut.String())
	}
}

// auth.mode none must be written explicitly; serve then starts without keys and warns.
func TestServeAuthModeNoneWarns(t *testing.T) {
	path := initCluster(t)
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Auth.Mode = configs.AuthNone
	if err := configs.Write(path, cfg); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	var errOut testlog.Buffer
	go func() {
		done <- run(ctx, []string{"serve", "--config", path, "--listen", addr, "--log-format", "text"}, io.Discard, &errOut)
	}()
	waitFor200(t, "http://"+addr+"/v1/stats/summary", done)
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("serve: exit %d\n%s", code, errOut.String())
	}
	if !strings.Contains(errOut.String(), "level=WARN msg=\"auth.mode is none") {
		t.Errorf("no startup warning for auth.mode none:\n%s", errOut.String())
	}
}

// devToken reads the dev cluster's admin key and checks the file's mode.
func devToken(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, devTokenFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// devMetricsURL is the /metrics URL of the dev gateway's admin listener (from its config).
func devMetricsURL(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := configs.Load(filepath.Join(dir, devConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminListen == "" {
		t.Fatal("the dev config has no admin_listen")
	}
	return "http://" + cfg.AdminListen + "/metrics"
}
