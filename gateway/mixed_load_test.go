package gateway_test

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// Mixed traffic through two gateways — reservations (single- and cross-shard, some with a
// 1-second TTL so the sweeper races the clients), commits, releases, adjustments, absolute sets
// and idempotent replays — then every invariant must hold and each SKU's on_hand must equal the
// sum of the acknowledged operations.
func TestMixedLoadTwoGateways(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 3})
	gws := []*clustertest.Gateway{c.StartGateway(t, gateway.Options{}, nil), c.StartGateway(t, gateway.Options{}, nil)}
	var skus []string
	for i := 0; i < 12; i++ {
		sku := fmt.Sprintf("MIX-%02d", i)
		skus = append(skus, sku)
		gws[0].Product(sku, 1, "50")
	}
	var mu sync.Mutex
	expectedOnHand := map[string]int{} // tenths
	for _, s := range skus {
		expectedOnHand[s] = 500
	}
	var wg sync.WaitGroup
	deadline := time.Now().Add(4 * time.Second)
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for n := 0; time.Now().Before(deadline); n++ {
				g := gws[rng.IntN(2)]
				switch op := rng.IntN(10); {
				case op < 5: // reserve, then commit or release or leave to expire
					k := 1 + rng.IntN(3)
					perm := rng.Perm(len(skus))[:k]
					body := `{"order_id":"w","ttl_seconds":` + fmt.Sprint(1+rng.IntN(2)*60) + `,"lines":[`
					qty := map[string]int{}
					for i, idx := range perm {
						if i > 0 {
							body += ","
						}
						q := 1 + rng.IntN(20)
						qty[skus[idx]] = q
						body += fmt.Sprintf(`{"sku":"%s","quantity":%d.%d}`, skus[idx], q/10, q%10)
					}
					body += `]}`
					r := g.Do("POST", "/v1/reservations", body)
					if r.Status != 201 {
						if r.ErrorCode() != "insufficient_stock" {
							t.Errorf("reserve: %d %s", r.Status, r.Raw)
						}
						continue
					}
					id := r.Str("id")
					switch rng.IntN(3) {
					case 0:
						r = gws[rng.IntN(2)].Do("POST", "/v1/reservations/"+id+"/commit", nil)
						if r.Status == 200 {
							mu.Lock()
							for s, q := range qty {
								expectedOnHand[s] -= q
							}
							mu.Unlock()
						} else if r.ErrorCode() != "invalid_state" {
							t.Errorf("commit: %d %s", r.Status, r.Raw)
						}
					case 1:
						if r = gws[rng.IntN(2)].Do("POST", "/v1/reservations/"+id+"/release", nil); r.Status != 200 {
							t.Errorf("release: %d %s", r.Status, r.Raw)
						}
					}
				case op < 8: // adjustment, sometimes replayed under an Idempotency-Key
					sku := skus[rng.IntN(len(skus))]
					d := rng.IntN(30) - 10
					if d == 0 {
						d = 1
					}
					key := fmt.Sprintf("adj-%d-%d", w, n)
					body := fmt.Sprintf(`{"delta":%s,"reason":"correction"}`, tenths(d))
					r := g.Do("POST", "/v1/products/"+sku+"/adjustments", body, "Idempotency-Key", key)
					if r.Status == 200 {
						mu.Lock()
						expectedOnHand[sku] += d
						mu.Unlock()
						r2 := gws[rng.IntN(2)].Do("POST", "/v1/products/"+sku+"/adjustments", body, "Idempotency-Key", key)
						if r2.Status != 200 || string(r2.Raw) != string(r.Raw) {
							t.Errorf("replay differs: %s vs %s", r2.Raw, r.Raw)
						}
					} else if r.ErrorCode() != "insufficient_stock" {
						t.Errorf("adjust: %d %s", r.Status, r.Raw)
					}
				default:
					sku := skus[rng.IntN(len(skus))]
					r := g.Do("GET", "/v1/products/"+sku, nil)
					if r.Status != 200 {
						t.Errorf("get: %d %s", r.Status, r.Raw)
					}
				}
			}
		}()
	}
	wg.Wait()
	// Wait for the TTL sweeper to expire what the clients left held.
	time.Sleep(1500 * time.Millisecond)
	c.EventuallyInvariants(t, false, 30*time.Second)
	for _, s := range skus {
		r := gws[0].Expect(gws[0].Do("GET", "/v1/products/"+s, nil), 200, "")
		if want := tenths(expectedOnHand[s]); r.Num("on_hand") != want {
			t.Errorf("%s on_hand %s, acknowledged operations sum to %s", s, r.Num("on_hand"), want)
		}
	}
}

func tenths(n int) string {
	sign := ""
	if n < 0 {
		sign, n = "-", -n
	}
	if n%10 == 0 {
		return fmt.Sprintf("%s%d", sign, n/10)
	}
	return fmt.Sprintf("%s%d.%d", sign, n/10, n%10)
}
