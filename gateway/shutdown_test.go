package gateway_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// Cancelling Serve's context stops accepting, lets in-flight requests finish and stops the workers.
func TestGracefulShutdown(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	addr, shutdown := serveGateway(t, c.Config())
	base := "http://" + addr
	cl := c.NewClient(t, base)
	cl.Product("SHUT-1", 0, "1000")

	var wg sync.WaitGroup
	statuses := make(chan int, 200)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				r, err := cl.Try("POST", "/v1/products/SHUT-1/adjustments", `{"delta":1,"reason":"receive"}`)
				if err != nil {
					return // refused after shutdown began: never half-served
				}
				statuses <- r.Status
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if err := shutdown(); err != nil {
		t.Fatalf("Serve returned %v", err)
	}
	wg.Wait()
	close(statuses)
	served := 0
	for s := range statuses {
		if s != 200 {
			t.Errorf("in-flight request answered %d", s)
		}
		served++
	}
	if _, err := http.Get(base + "/healthz"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("listener still accepting after shutdown: %v", err)
	}
	// Every acknowledged adjustment landed exactly once.
	st := c.Stores(t)
	var onHand int64
	for _, s := range st {
		_ = s.DB().QueryRow("SELECT on_hand FROM products WHERE sku = 'SHUT-1'").Scan(&onHand)
	}
	if want := int64(1000 + served); onHand != want {
		t.Errorf("on_hand %d, want %d (%d acknowledged)", onHand, want, served)
	}
	c.RequireInvariants(t, true)

}

// Stop ends every background worker the gateway started (topology polling, reservation
// recovery, key housekeeping, the event relays, the lot sweeper, the alert reconcile) and returns
// once all of them are gone; the relays it held are released.
func TestStopEndsEveryWorker(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	cfg := c.Config()
	cfg.Lots.SweepInterval = 20 * time.Millisecond
	cfg.Alerts.ReconcileInterval = 20 * time.Millisecond
	srv, err := gateway.New(context.Background(), cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	workers := []string{
		"gateway/cluster.(*Client).Poll",
		"gateway/saga.(*Coordinator).Run",
		"gateway.(*idempotency).run",
		"gateway/events.(*Service).Run",
		// The lot sweeper and the alert reconcile: two goroutines in the one per-shard pass loop.
		"gateway.(*shardPass[...]).run",
		"gateway.(*shardPass[...]).run",
	}
	srv.Start()
	deadline := time.Now().Add(20 * time.Second)
	for len(srv.RelaysHeld()) < len(c.Shards) {
		if time.Now().After(deadline) {
			t.Fatalf("relays held %v, want every shard", srv.RelaysHeld())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if missing := runningWorkers(workers, false); len(missing) > 0 {
		t.Fatalf("workers not running after Start: %v", missing)
	}
	stopped := make(chan struct{})
	go func() {
		srv.Stop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not return")
	}
	if left := runningWorkers(workers, true); len(left) > 0 {
		t.Errorf("workers still running after Stop: %v", left)
	}
	if held := srv.RelaysHeld(); len(held) > 0 {
		t.Errorf("relays still held after Stop: %v", held)
	}
}

// runningWorkers returns the workers whose function is on some goroutine's stack (present), or
// those that are not running (!present): a function listed k times must be on k stacks.
func runningWorkers(workers []string, present bool) []string {
	buf := make([]byte, 1<<22)
	stacks := string(buf[:runtime.Stack(buf, true)])
	var out []string
	for i, w := range workers {
		if slices.Contains(workers[:i], w) {
			continue
		}
		n := strings.Count(stacks, w+"(")
		if present && n > 0 || !present && n < count(workers, w) {
			out = append(out, w)
		}
	}
	return out
}

func count(list []string, v string) int {
	n := 0
	for _, s := range list {
		if s == v {
			n++
		}
	}
	return n
}

// Close ends open event streams even when the background workers (and so the event relays)
// were never started: a gateway with DisableWorkers does not leave SSE clients hanging.
func TestCloseEndsEventStreamsWithoutWorkers(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	srv, err := gateway.New(context.Background(), c.Config(), gateway.Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	closed := false
	defer func() {
		if !closed {
			srv.Close()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+c.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	lines := make(chan string)
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case l := <-lines:
		if l != "retry: 1000" {
			t.Fatalf("stream began with %q", l)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream sent nothing")
	}

	srv.Close()
	closed = true
	for {
		select {
		case <-lines: // keep-alives may still come
		case <-ended:
			return
		case <-time.After(5 * time.Second):
			t.Fatal("the event stream is still open 5 s after Close")
		}
	}
}
