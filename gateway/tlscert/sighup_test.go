//go:build unix

package tlscert_test

import (
	"context"
	"log/slog"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/tlscert"
	"github.com/shardstock/shardstock/tools/testcerts"
	"github.com/shardstock/shardstock/tools/testlog"
)

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatchSIGHUPReloads(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway CA")
	f := newFiles(t)
	f.install(t, ca.Server(t, "gateway-a", "127.0.0.1"))
	h, err := tlscert.Load(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	var logs testlog.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stop := tlscert.WatchSIGHUP(context.Background(), h, log)
	defer stop()

	f.install(t, ca.Server(t, "gateway-b", "127.0.0.1"))
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the reload to gateway-b", func() bool { return h.Leaf().Subject.CommonName == "gateway-b" })
	waitFor(t, "the reload's log line", func() bool { return strings.Contains(logs.String(), "tls certificate reloaded") })

	write(t, f.cert, []byte("broken"))
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the failed reload's log line", func() bool {
		return strings.Contains(logs.String(), "level=ERROR") && strings.Contains(logs.String(), "still serving the previous one")
	})
	if cn := h.Leaf().Subject.CommonName; cn != "gateway-b" {
		t.Errorf("after a broken reload the holder serves %s, want gateway-b", cn)
	}

	stop() // returns once the watcher has finished; a second stop is harmless
	stop()
}

// The watcher stops with its context.
func TestWatchSIGHUPStopsWithContext(t *testing.T) {
	ca := testcerts.NewCA(t, "gateway CA")
	f := newFiles(t)
	f.install(t, ca.Server(t, "gateway-a", "127.0.0.1"))
	h, err := tlscert.Load(f.cert, f.key)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stop := tlscert.WatchSIGHUP(ctx, h, slog.New(slog.DiscardHandler))
	cancel()
	done := make(chan struct{})
	go func() { stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("watcher did not stop with its context")
	}
}
