package gateway_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

var errCrash = errors.New("simulated crash")

// crashAt returns a failpoint that "kills" the coordinator at step.
func crashAt(step string) func(string) error {
	return func(s string) error {
		if s == step {
			return errCrash
		}
		return nil
	}
}

// Every step of the saga: a coordinator that dies there leaves a state that a fresh gateway's
// recovery worker turns back into a whole one (nothing half committed, nothing leaked).
func TestCrashRecoveryAtEverySagaStep(t *testing.T) {
	type outcome struct{ reserved, onHand string } // per SKU after recovery
	const stock = "10"
	cases := []struct {
		name   string
		step   string
		op     string // create, create-commit, commit, release
		status string // final header status after recovery
		want   outcome
	}{
		{"create: header written", "saga.header_written", "create", "released", outcome{"0", "10"}},
		{"create: some lines reserved", "saga.line_group_reserved", "create", "released", outcome{"0", "10"}},
		{"create: all lines reserved, header pending", "saga.lines_reserved", "create", "released", outcome{"0", "10"}},
		{"create+commit: some lines committed", "finish.line_group_applied", "create-commit", "committed", outcome{"0", "8"}},
		{"create+commit: lines committed, header committing", "finish.lines_applied", "create-commit", "committed", outcome{"0", "8"}},
		{"commit: header committing", "settle.header_decided", "commit", "committed", outcome{"0", "8"}},
		{"commit: some lines committed", "finish.line_group_applied", "commit", "committed", outcome{"0", "8"}},
		{"commit: all lines committed", "finish.lines_applied", "commit", "committed", outcome{"0", "8"}},
		{"release: header releasing", "settle.header_decided", "release", "released", outcome{"0", "10"}},
		{"release: some lines released", "finish.line_group_applied", "release", "released", outcome{"0", "10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := clustertest.New(t, clustertest.Options{})
			skus := c.SKUsPerShard(t, "C")
			body := `{"order_id":"crash","ttl_seconds":60,"lines":[`
			for i, s := range skus {
				if i > 0 {
					body += ","
				}
				body += `{"sku":"` + s + `","quantity":2}`
			}
			if tc.op == "create-commit" {
				body += `],"commit":true}`
			} else {
				body += `]}`
			}
			var id string
			crashed := c.StartGateway(t, gateway.Options{Failpoint: crashAt(tc.step), DisableWorkers: true}, nil)
			for _, s := range skus {
				crashed.Product(s, 0, stock)
			}
			if strings.HasPrefix(tc.op, "create") {
				r := crashed.Do("POST", "/v1/reservations", body)
				if r.Status != 500 {
					t.Fatalf("the coordinator should have died at %s, got %d %s", tc.step, r.Status, r.Raw)
				}
			} else {
				healthy := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil)
				id = healthy.Expect(healthy.Do("POST", "/v1/reservations", body), 201, "").Str("id")
				r := crashed.Do("POST", "/v1/reservations/"+id+"/"+tc.op, nil)
				if r.Status != 500 {
					t.Fatalf("the coordinator should have died at %s, got %d %s", tc.step, r.Status, r.Raw)
				}
			}
			crashed.Close()
			// Before recovery the cluster is (by design) not whole for in-flight sagas.
			fresh := c.StartGateway(t, gateway.Options{}, nil)
			c.EventuallyInvariants(t, true, 30*time.Second)
			for _, s := range skus {
				r := fresh.Expect(fresh.Do("GET", "/v1/products/"+s, nil), 200, "")
				if r.Num("reserved") != tc.want.reserved || r.Num("on_hand") != tc.want.onHand {
					t.Errorf("%s: reserved %s on_hand %s, want %s/%s", s, r.Num("reserved"), r.Num("on_hand"), tc.want.reserved, tc.want.onHand)
				}
			}
			if id != "" {
				r := fresh.Expect(fresh.Do("GET", "/v1/reservations/"+id, nil), 200, "")
				if r.Str("status") != tc.status {
					t.Errorf("status %s, want %s", r.Str("status"), tc.status)
				}
				// The client retries the call that crashed: same final answer.
				fresh.Expect(fresh.Do("POST", "/v1/reservations/"+id+"/"+tc.op, nil), 200, "")
			}
		})
	}
}

// A held reservation past its TTL is expired by the worker; a commit after expiry is refused.
func TestReservationExpiry(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "T")
	for _, s := range skus {
		g.Product(s, 0, "5")
	}
	multi := fmt.Sprintf(`{"order_id":"ttl","ttl_seconds":1,"lines":[{"sku":"%s","quantity":1},{"sku":"%s","quantity":2}]}`, skus[0], skus[1])
	local := fmt.Sprintf(`{"order_id":"ttl","ttl_seconds":1,"lines":[{"sku":"%s","quantity":3}]}`, skus[2])
	idMulti := g.Expect(g.Do("POST", "/v1/reservations", multi), 201, "").Str("id")
	idLocal := g.Expect(g.Do("POST", "/v1/reservations", local), 201, "").Str("id")
	deadline := time.Now().Add(5 * time.Second)
	for _, id := range []string{idMulti, idLocal} {
		for {
			r := g.Expect(g.Do("GET", "/v1/reservations/"+id, nil), 200, "")
			if r.Str("status") == "expired" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("reservation %s not expired after its TTL: %s", id, r.Raw)
			}
			time.Sleep(50 * time.Millisecond)
		}
		g.Expect(g.Do("POST", "/v1/reservations/"+id+"/commit", nil), 409, "invalid_state")
		g.Expect(g.Do("POST", "/v1/reservations/"+id+"/release", nil), 200, "")
	}
	for _, s := range skus {
		if r := g.Do("GET", "/v1/products/"+s, nil); r.Num("available") != "5" {
			t.Errorf("%s available %s after expiry", s, r.Num("available"))
		}
	}
	c.RequireInvariants(t, true)
}
