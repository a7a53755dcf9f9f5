package auth

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per API key (golang.org/x/time/rate). The limits are per gateway:
// with N gateways behind a load balancer a key can make up to N times its rate in all.
//
// A key's rate (requests per second) and burst are its own when set (Principal.Rate/Burst),
// else the configured defaults; a rate of 0 in both means unlimited. A burst of 0 in both means
// max(1, ceil(rate)). Memory is bounded: one bucket per key that was used on this gateway, and
// keys are bounded by the metadata store's table. Safe for concurrent use.
type Limiter struct {
	defaultRate  float64
	defaultBurst int

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim   *rate.Limiter
	rate  float64
	burst int
}

// NewLimiter returns a limiter with the configured defaults (auth.default_rate and
// auth.default_burst; 0 rate = unlimited).
func NewLimiter(defaultRate float64, defaultBurst int) *Limiter {
	return &Limiter{defaultRate: defaultRate, defaultBurst: defaultBurst, buckets: map[string]*bucket{}}
}

// limits returns the rate and burst that apply to p (rate 0: unlimited).
func (l *Limiter) limits(p Principal) (float64, int) {
	r, b := p.Rate, p.Burst
	if r <= 0 {
		r = l.defaultRate
	}
	if r <= 0 {
		return 0, 0
	}
	if b <= 0 {
		b = l.defaultBurst
	}
	if b <= 0 {
		b = max(1, int(min(math.Ceil(r), math.MaxInt32)))
	}
	return r, b
}

// Allow takes one token from p's bucket. It returns nil, or the rate_limited error with
// details.retry_after_seconds (see RetryAfter) when the bucket is empty; a refused request takes
// no token.
func (l *Limiter) Allow(p Principal) error {
	r, b := l.limits(p)
	if r == 0 {
		return nil
	}
	bk := l.bucket(p.KeyID, r, b)
	now := time.Now()
	if bk.AllowN(now, 1) {
		return nil
	}
	// Advisory: the time until one token is back, had nobody else taken it meanwhile.
	return rateLimited((1 - bk.TokensAt(now)) / r)
}

// bucket returns the key's limiter, created on first use; a change of the key's limits is
// applied to its existing bucket.
func (l *Limiter) bucket(keyID string, r float64, b int) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	bk := l.buckets[keyID]
	if bk == nil {
		bk = &bucket{lim: rate.NewLimiter(rate.Limit(r), b), rate: r, burst: b}
		l.buckets[keyID] = bk
	} else if bk.rate != r || bk.burst != b {
		now := time.Now()
		bk.lim.SetLimitAt(now, rate.Limit(r))
		bk.lim.SetBurstAt(now, b)
		bk.rate, bk.burst = r, b
	}
	return bk.lim
}

// Len returns the number of buckets held.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
