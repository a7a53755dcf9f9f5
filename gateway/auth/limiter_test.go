package auth

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/shardstock/shardstock/inventory"
)

// N goroutines hammer one key with burst B and a rate near zero: exactly B requests pass, the
// others are rate_limited. Run with -race.
func TestLimiterIsExactUnderConcurrency(t *testing.T) {
	const goroutines, perGoroutine, burst = 32, 200, 137
	l := NewLimiter(0, 0)
	p := Principal{KeyID: "hot", Rate: 1e-9, Burst: burst}
	var allowed, limited atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range perGoroutine {
				switch err := l.Allow(p); {
				case err == nil:
					allowed.Add(1)
				case inventory.IsCode(err, inventory.CodeRateLimited):
					limited.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if allowed.Load() != burst || allowed.Load()+limited.Load() != goroutines*perGoroutine {
		t.Fatalf("allowed %d, limited %d of %d; want exactly %d allowed", allowed.Load(), limited.Load(), goroutines*perGoroutine, burst)
	}
	if l.Len() != 1 {
		t.Errorf("%d buckets for one key", l.Len())
	}
}

func TestLimiterLimitsAndRetryAfter(t *testing.T) {
	l := NewLimiter(0.5, 2) // defaults: one request every 2 s, burst 2
	p := Principal{KeyID: "a"}
	for i := range 2 {
		if err := l.Allow(p); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	err := l.Allow(p)
	if got, ok := RetryAfter(err); !ok || got != "2" {
		t.Errorf("third request: %v, Retry-After %q; want rate_limited after 2 s", err, got)
	}
	// Keys are independent.
	if err := l.Allow(Principal{KeyID: "b"}); err != nil {
		t.Errorf("another key: %v", err)
	}
	// A key's own limits beat the defaults; burst defaults to the configured one.
	own := Principal{KeyID: "c", Rate: 1e-9}
	for i := range 2 {
		if err := l.Allow(own); err != nil {
			t.Fatalf("own rate, request %d: %v", i, err)
		}
	}
	if got, _ := RetryAfter(l.Allow(own)); got != "86400" {
		t.Errorf("Retry-After of a near-zero rate = %q, want the 86400 s cap", got)
	}
}

func TestLimiterUnlimitedAndBurstDefaults(t *testing.T) {
	unlimited := NewLimiter(0, 0)
	for range 10000 {
		if err := unlimited.Allow(Principal{KeyID: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if unlimited.Len() != 0 {
		t.Errorf("unlimited keys hold %d buckets", unlimited.Len())
	}
	for _, tc := range []struct {
		defRate   float64
		defBurst  int
		rate      float64
		burst     int
		wantRate  float64
		wantBurst int
	}{
		{0, 0, 0, 0, 0, 0},
		{0, 0, 5, 0, 5, 5},     // burst of a rate-only key: ceil(rate)
		{0, 0, 0.2, 0, 0.2, 1}, // at least 1
		{10, 20, 0, 0, 10, 20}, // the defaults
		{10, 20, 2, 0, 2, 20},  // own rate, default burst
		{10, 20, 0, 3, 10, 3},  // default rate, own burst
		{0, 7, 0, 3, 0, 0},     // no rate anywhere: unlimited
	} {
		r, b := NewLimiter(tc.defRate, tc.defBurst).limits(Principal{Rate: tc.rate, Burst: tc.burst})
		if r != tc.wantRate || b != tc.wantBurst {
			t.Errorf("limits(default %v/%d, key %v/%d) = %v/%d, want %v/%d", tc.defRate, tc.defBurst, tc.rate, tc.burst, r, b, tc.wantRate, tc.wantBurst)
		}
	}
}
