//go:build unix

package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// childServeEnv makes this test binary run `shardstock <args>` instead of its tests: the
// takeover test starts real gateway processes from it, which it can kill -9.
const childServeEnv = "SHARDSTOCK_TEST_CHILD_PROCESS"

func init() {
	if os.Getenv(childServeEnv) != "1" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// gatewayProcess is a `shardstock serve` process started by a test.
type gatewayProcess struct {
	cmd  *exec.Cmd
	base string
	log  string
	done chan struct{}
}

// startGatewayProcess runs `shardstock serve --config cfg` as a child process on a free port
// and waits until it is ready; the test's end kills it.
func startGatewayProcess(t *testing.T, cfg string) *gatewayProcess {
	t.Helper()
	port, err := mysqlproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	logPath := filepath.Join(t.TempDir(), "gateway.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "--log-level", "warn", "serve", "--config", cfg, "--listen", addr)
	cmd.Env = append(os.Environ(), childServeEnv+"=1")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	g := &gatewayProcess{cmd: cmd, base: "http://" + addr, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(g.done)
	}()
	t.Cleanup(g.kill)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-g.done:
			t.Fatalf("gateway process exited before it was ready:\n%s", g.logText())
		default:
		}
		if resp, err := http.Get(g.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway process not ready within 60s:\n%s", g.logText())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL (as a crash would) and reaps the process.
func (g *gatewayProcess) kill() {
	_ = g.cmd.Process.Signal(syscall.SIGKILL)
	<-g.done
}

func (g *gatewayProcess) logText() string {
	b, _ := os.ReadFile(g.log)
	return string(b)
}

// metric reads a counter of the gateway's /metrics (with the cluster's admin key).
func (g *gatewayProcess) metric(t *testing.T, c *clustertest.Cluster, name string) float64 {
	t.Helper()
	r := c.NewClient(t, g.base).Do("GET", "/metrics", nil)
	for _, line := range strings.Split(string(r.Raw), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// takeoverOp is one keyed adjustment of the takeover test.
type takeoverOp struct {
	sku, key string
	delta    int
	acked    bool
}

// send sends the request to the gateway at base with the API key token.
func (o *takeoverOp) send(client *http.Client, base, token string) (int, error) {
	req, _ := http.NewRequest("POST", base+"/v1/products/"+o.sku+"/adjustments",
		strings.NewReader(fmt.Sprintf(`{"delta":%d,"reason":"receive"}`, o.delta)))
	req.Header.Set("Idempotency-Key", o.key)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		o.acked = true
	}
	return resp.StatusCode, nil
}

// When a gateway process is killed (SIGKILL) in the middle of keyed requests, their clients'
// retries on another gateway complete within 3 s (p99; the claim's session lock died with the
// process, so the retry takes the claim over at once instead of waiting for a 30 s lease), and
// every request is applied exactly once. Some requests are held in flight deterministically (their
// product rows locked by the test) so the kill always lands in the middle of them; eight clients
// keep keyed load on the others.
func TestRetryAfterGatewayKillCompletesFast(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 64})
	cfgPath := filepath.Join(t.TempDir(), "shardstock.yaml")
	cfg := c.Config()
	cfg.Log = configs.Log{Level: "warn", Format: "text"}
	if err := configs.Write(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	survivor := startGatewayProcess(t, cfgPath)
	api := c.NewClient(t, survivor.base)
	held, loaded := takeoverSKUs(t, c)
	for _, sku := range append(slices.Clone(held), loaded...) {
		api.Product(sku, 0, "100000")
	}
	var ops []*takeoverOp
	var recoveries []time.Duration
	for round := range 2 {
		victim := startGatewayProcess(t, cfgPath)
		o, r := killMidRequest(t, c, victim, survivor, held, loaded, round)
		ops, recoveries = append(ops, o...), append(recoveries, r...)
	}
	slices.Sort(recoveries)
	p50, p99 := recoveries[len(recoveries)/2], recoveries[(len(recoveries)*99+99)/100-1]
	t.Logf("retries after SIGKILL: %d, completed %s p50, %s p99, %s max after the kill; takeovers on the survivor: %.0f",
		len(recoveries), p50.Round(time.Millisecond), p99.Round(time.Millisecond), recoveries[len(recoveries)-1].Round(time.Millisecond),
		survivor.metric(t, c, "shardstock_idempotency_takeovers_total"))
	if p99 > 3*time.Second {
		t.Errorf("p99 of retry completion after a gateway SIGKILL is %s, want at most 3s", p99)
	}
	if n := survivor.metric(t, c, "shardstock_idempotency_takeovers_total"); n < float64(2*len(held)) {
		t.Errorf("%.0f takeovers on the survivor, want at least %d (every held request)", n, 2*len(held))
	}
	checkExactlyOnce(t, c, api, ops, held, loaded)
}

// takeoverSKUs returns two SKUs of every shard whose requests the test holds, and two to load.
func takeoverSKUs(t *testing.T, c *clustertest.Cluster) (held, loaded []string) {
	top := c.Topology(t)
	count := map[string]int{}
	for i := 0; len(held)+len(loaded) < 4*len(c.Shards); i++ {
		sku := fmt.Sprintf("KILL-%d", i)
		owner, _ := top.Map.Owner(router.Partition(sku, top.Partitions))
		switch count[owner] {
		case 0, 1:
			held = append(held, sku)
		case 2, 3:
			loaded = append(loaded, sku)
		default:
			continue
		}
		count[owner]++
	}
	return held, loaded
}

// killMidRequest sends keyed adjustments of the held SKUs (whose rows the test locks) and keyed
// load on the others to victim, kills it, releases the rows, and retries every request that was
// not acknowledged on survivor; it returns every request and how long after the kill each retry
// completed.
func killMidRequest(t *testing.T, c *clustertest.Cluster, victim, survivor *gatewayProcess, held, loaded []string, round int) ([]*takeoverOp, []time.Duration) {
	t.Helper()
	release := lockRows(t, c, held)
	defer release()
	client := &http.Client{Timeout: 30 * time.Second}
	var mu sync.Mutex
	var ops []*takeoverOp
	var recoveries []time.Duration
	killed := make(chan struct{}) // closed once the victim is dead; killedAt is then set
	var killedAt time.Time
	var wg sync.WaitGroup
	worker := func(skus []string, name string, delta int) {
		defer wg.Done()
		for n := 0; ; n++ {
			op := &takeoverOp{sku: skus[n%len(skus)], key: fmt.Sprintf("kill-%d-%s-%d", round, name, n), delta: delta}
			mu.Lock()
			ops = append(ops, op)
			mu.Unlock()
			if _, err := op.send(client, victim.base, c.AdminToken); err == nil && op.acked {
				continue
			}
			<-killed // the victim is gone (or refused): retry on the survivor
			at := killedAt
			for !op.acked && time.Since(at) < 30*time.Second {
				status, err := op.send(client, survivor.base, c.AdminToken)
				if err == nil && !op.acked && status < 500 {
					t.Errorf("retry of %s: %d", op.key, status)
					return
				}
				if !op.acked {
					time.Sleep(10 * time.Millisecond)
				}
			}
			mu.Lock()
			recoveries = append(recoveries, time.Since(at))
			mu.Unlock()
			return
		}
	}
	for i, sku := range held {
		wg.Add(1)
		go worker([]string{sku}, fmt.Sprintf("held%d", i), 3)
	}
	for i := range 8 {
		wg.Add(1)
		go worker(loaded, fmt.Sprintf("load%d", i), 1)
	}
	var heldKeys []string
	for i := range held {
		heldKeys = append(heldKeys, fmt.Sprintf("kill-%d-held%d-0", round, i))
	}
	waitPendingClaims(t, c, heldKeys)
	time.Sleep(300 * time.Millisecond) // load in flight
	victim.kill()
	killedAt = time.Now()
	close(killed)
	release()
	wg.Wait()
	return ops, recoveries
}

// lockRows holds the products' rows in a transaction per shard until the returned function is
// called (once or more).
func lockRows(t *testing.T, c *clustertest.Cluster, skus []string) func() {
	t.Helper()
	var once sync.Once
	var release []func()
	for _, st := range c.Stores(t) {
		tx, err := st.DB().Begin()
		if err != nil {
			t.Fatal(err)
		}
		for _, sku := range skus {
			if _, err := tx.Exec("SELECT on_hand FROM products WHERE sku = ? FOR UPDATE", sku); err != nil {
				t.Fatal(err)
			}
		}
		release = append(release, func() { _ = tx.Rollback() })
	}
	return func() {
		once.Do(func() {
			for _, r := range release {
				r()
			}
		})
	}
}

// waitPendingClaims waits until the keys' claims are pending (their requests are in flight).
func waitPendingClaims(t *testing.T, c *clustertest.Cluster, keys []string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		total := 0
		for _, st := range c.Stores(t) {
			for _, key := range keys {
				var k int
				if err := st.DB().QueryRow("SELECT COUNT(*) FROM idempotency_keys WHERE key_hash = ? AND state = 'pending'", c.KeyHash(t, key)).Scan(&k); err != nil {
					t.Fatal(err)
				}
				total += k
			}
		}
		if total == len(keys) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d held requests claimed their keys within 30s", total, len(keys))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkExactlyOnce checks that every acknowledged request changed its product once: one change
// row per key, and on_hand = initial stock + the deltas; then the cluster's invariants.
func checkExactlyOnce(t *testing.T, c *clustertest.Cluster, api *clustertest.Client, ops []*takeoverOp, held, loaded []string) {
	t.Helper()
	want := map[string]int{}
	for _, op := range ops {
		if !op.acked {
			t.Fatalf("request %s was never acknowledged", op.key)
		}
		want[op.sku] += op.delta
	}
	rows := 0
	for _, st := range c.Stores(t) {
		var n int
		if err := st.DB().QueryRow("SELECT COUNT(*) FROM changes WHERE ref LIKE 'idem:%'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		rows += n
	}
	if rows != len(ops) {
		t.Errorf("%d keyed change rows for %d keyed requests, want one each", rows, len(ops))
	}
	for _, op := range ops[:min(len(ops), 5)] {
		h := c.KeyHash(t, op.key)
		var n int
		for _, st := range c.Stores(t) {
			var k int
			_ = st.DB().QueryRow("SELECT COUNT(*) FROM changes WHERE ref = ?", "idem:"+hex.EncodeToString(h[:12])).Scan(&k)
			n += k
		}
		if n != 1 {
			t.Errorf("key %s: %d change rows, want 1", op.key, n)
		}
	}
	for _, sku := range append(slices.Clone(held), loaded...) {
		if r := api.Do("GET", "/v1/products/"+sku, nil); r.Num("on_hand") != strconv.Itoa(100000+want[sku]) {
			t.Errorf("%s on_hand = %s, want %d", sku, r.Num("on_hand"), 100000+want[sku])
		}
	}
	c.RequireInvariants(t, true)
}

// A cross-shard reservation whose gateway is killed in the middle of its saga (header pending,
// one line held up by a row lock) is finished at once by the retry that takes its key over
// (rolled back: 409 invalid_state, nothing left reserved), not after the recovery grace.
func TestRetryOfACrossShardReservationAfterGatewayKill(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2, Partitions: 64})
	cfgPath := filepath.Join(t.TempDir(), "shardstock.yaml")
	cfg := c.Config()
	cfg.Log = configs.Log{Level: "warn", Format: "text"}
	cfg.Reservation.RecoveryGrace = configs.Default().Reservation.RecoveryGrace
	if err := configs.Write(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	survivor, victim := startGatewayProcess(t, cfgPath), startGatewayProcess(t, cfgPath)
	api := c.NewClient(t, survivor.base)
	skus := c.SKUsPerShard(t, "SAGA")
	first, second := skus[0], skus[1] // the header lives with the first
	api.Product(first, 0, "10")
	api.Product(second, 0, "10")
	release := lockRows(t, c, []string{second})
	defer release()
	body := `{"order_id":"kill-saga","lines":[{"sku":"` + first + `","quantity":2},{"sku":"` + second + `","quantity":3}]}`
	sent := make(chan error, 1)
	go func() {
		_, err := c.NewClient(t, victim.base).Try("POST", "/v1/reservations", body, "Idempotency-Key", "kill-saga")
		sent <- err
	}()
	waitPendingClaims(t, c, []string{"kill-saga"})
	deadline := time.Now().Add(30 * time.Second)
	for pending := 0; pending == 0; {
		for _, st := range c.Stores(t) {
			var n int
			_ = st.DB().QueryRow("SELECT COUNT(*) FROM reservations WHERE status = 'pending'").Scan(&n)
			pending += n
		}
		if time.Now().After(deadline) {
			t.Fatal("the saga's header is not pending within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	victim.kill()
	killed := time.Now()
	release()
	if err := <-sent; err == nil {
		t.Fatal("the killed gateway answered")
	}
	r := api.Do("POST", "/v1/reservations", body, "Idempotency-Key", "kill-saga")
	took := time.Since(killed)
	t.Logf("retry of the cross-shard reservation answered %d after %s", r.Status, took.Round(time.Millisecond))
	if r.Status != 409 || r.ErrorCode() != "invalid_state" || took > 3*time.Second {
		t.Errorf("retry after the kill: %d %s after %s, want 409 invalid_state (rolled back) within 3s", r.Status, r.Raw, took)
	}
	for _, sku := range []string{first, second} {
		if p := api.Do("GET", "/v1/products/"+sku, nil); p.Num("reserved") != "0" {
			t.Errorf("%s still reserved after the rollback: %s", sku, p.Raw)
		}
	}
	c.RequireInvariants(t, true)
}
