package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Workload drives reservations, commits, releases and adjustments with Idempotency-Keys through
// several gateways; every request is retried (same key) until acknowledged, as a well-behaved
// client does. It tracks what was acknowledged so a test can compare the final quantities.
type Workload struct {
	SKUs     []string
	Initial  int
	gateways []*Client

	mu       sync.Mutex
	onHand   map[string]int // expected on_hand from acknowledged operations
	Requests atomic.Int64
	Retries  atomic.Int64 // 5xx answers or transport errors that were retried
	Errors   atomic.Int64 // answers that were neither success nor an expected business refusal
}

// NewWorkload creates n products with initial stock through the first gateway.
func NewWorkload(t testing.TB, gateways []*Client, n, initial int) *Workload {
	w := &Workload{Initial: initial, gateways: gateways, onHand: map[string]int{}}
	for i := 0; i < n; i++ {
		sku := fmt.Sprintf("LOAD-%03d", i)
		gateways[0].Product(sku, 0, fmt.Sprint(initial))
		w.SKUs = append(w.SKUs, sku)
		w.onHand[sku] = initial
	}
	return w
}

// Run starts clients that work until ctx is done; the returned wait function blocks until
// they stopped.
func (w *Workload) Run(ctx context.Context, t testing.TB, clients int) (wait func()) {
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), uint64(time.Now().UnixNano())))
			for n := 0; ctx.Err() == nil; n++ {
				w.step(t, rng, fmt.Sprintf("c%d-%d-%d", c, n, rng.Int64()))
			}
		}()
	}
	return wg.Wait
}

// send retries one request with the same key until it is acknowledged (not 5xx).
func (w *Workload) send(t testing.TB, rng *rand.Rand, method, path, body, key string) Response {
	for attempt := 0; ; attempt++ {
		g := w.gateways[rng.IntN(len(w.gateways))]
		w.Requests.Add(1)
		r, err := g.Try(method, path, body, "Idempotency-Key", key)
		if err == nil && r.Status < 500 {
			return r
		}
		w.Retries.Add(1)
		if attempt > 200 {
			t.Errorf("%s %s never acknowledged: %v %d %s", method, path, err, r.Status, r.Raw)
			return r
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (w *Workload) step(t testing.TB, rng *rand.Rand, key string) {
	switch op := rng.IntN(10); {
	case op < 6:
		k := 1 + rng.IntN(2)
		perm := rng.Perm(len(w.SKUs))[:k]
		qty := map[string]int{}
		body := `{"order_id":"load","lines":[`
		for i, idx := range perm {
			if i > 0 {
				body += ","
			}
			q := 1 + rng.IntN(3)
			qty[w.SKUs[idx]] = q
			body += fmt.Sprintf(`{"sku":"%s","quantity":%d}`, w.SKUs[idx], q)
		}
		body += `]}`
		r := w.send(t, rng, "POST", "/v1/reservations", body, key+"-r")
		if r.Status != 201 {
			if r.ErrorCode() != "insufficient_stock" {
				w.Errors.Add(1)
				t.Errorf("reserve: %d %s", r.Status, r.Raw)
			}
			return
		}
		id := r.Str("id")
		switch rng.IntN(3) {
		case 0:
			r = w.send(t, rng, "POST", "/v1/reservations/"+id+"/commit", "", key+"-c")
			if r.Status == 200 {
				w.mu.Lock()
				for s, q := range qty {
					w.onHand[s] -= q
				}
				w.mu.Unlock()
			} else {
				w.Errors.Add(1)
				t.Errorf("commit: %d %s", r.Status, r.Raw)
			}
		case 1:
			if r = w.send(t, rng, "POST", "/v1/reservations/"+id+"/release", "", key+"-x"); r.Status != 200 {
				w.Errors.Add(1)
				t.Errorf("release: %d %s", r.Status, r.Raw)
			}
		}
	default:
		sku := w.SKUs[rng.IntN(len(w.SKUs))]
		d := rng.IntN(11) - 4
		if d == 0 {
			d = 2
		}
		r := w.send(t, rng, "POST", "/v1/products/"+sku+"/adjustments", fmt.Sprintf(`{"delta":%d,"reason":"correction"}`, d), key+"-a")
		switch {
		case r.Status == 200:
			w.mu.Lock()
			w.onHand[sku] += d
			w.mu.Unlock()
		case r.ErrorCode() != "insufficient_stock":
			w.Errors.Add(1)
			t.Errorf("adjust: %d %s", r.Status, r.Raw)
		}
	}
}

// CheckQuantities compares every product's on_hand with the acknowledged operations.
func (w *Workload) CheckQuantities(t testing.TB, g *Client) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.SKUs {
		r := g.Expect(g.Do("GET", "/v1/products/"+s, nil), 200, "")
		if want := fmt.Sprint(w.onHand[s]); r.Num("on_hand") != want {
			t.Errorf("%s on_hand %s, acknowledged operations give %s", s, r.Num("on_hand"), want)
		}
	}
}
