package worker_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway/worker"
)

// Every calls fn repeatedly, never two calls at once, and returns once its context ends; no
// call starts after it returned.
func TestEveryCallsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls, running atomic.Int32
	done := make(chan struct{})
	go func() {
		defer close(done)
		worker.Every(ctx, time.Millisecond, func() {
			if running.Add(1) != 1 {
				t.Error("two calls at once")
			}
			time.Sleep(2 * time.Millisecond) // slower than the interval: ticks are dropped
			calls.Add(1)
			running.Add(-1)
		})
	}()
	deadline := time.Now().Add(10 * time.Second)
	for calls.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls in 10 s", calls.Load())
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after cancel")
	}
	after := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != after || running.Load() != 0 {
		t.Errorf("calls after Every returned: %d → %d (running %d)", after, calls.Load(), running.Load())
	}
}

// A context that is already done: Every returns at once without calling fn.
func TestEveryDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	worker.Every(ctx, time.Millisecond, func() { t.Error("fn called with a done context") })
}
