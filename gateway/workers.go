package gateway

import (
	"context"
	"time"
)

// runEvery calls fn every interval until ctx is done: the loop of every background worker.
func runEvery(ctx context.Context, interval time.Duration, fn func()) {
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
