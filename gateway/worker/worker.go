// Package worker is the loop of the gateway's background workers: a function called every
// interval until its context ends. Topology polling, reservation recovery, the API key refresh
// and the sweepers run in it. It starts no goroutine of its own: the worker's owner runs Every
// in a goroutine it owns and stops it by cancelling the context.
package worker

import (
	"context"
	"time"
)

// Every calls fn every interval until ctx is done; the first call comes one interval after the
// start. Calls never overlap: a slow fn delays the next call (missed ticks are dropped, not
// queued). Every returns once ctx is done and no call is running.
func Every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		fn()
	}
}
