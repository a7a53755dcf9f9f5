package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// historyEntry is one entry of GET /v1/products/{sku}/history, quantities in base units.
type historyEntry struct {
	id, at, kind, ref, actor, requestID string
	dOnHand, dReserved                  int64
	onHand, reserved, available         int64
}

// units reads an exact decimal of the answer in base units of scale.
func units(t *testing.T, v any, scale int) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("quantity %v is not a number", v)
	}
	q, err := inventory.ParseQuantity(n.String())
	if err != nil {
		t.Fatal(err)
	}
	u, err := q.BaseUnits(scale)
	if err != nil {
		t.Fatalf("quantity %s at scale %d: %v", n, scale, err)
	}
	return u
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// readHistory walks the product's whole history with pages of limit entries, checks every page's
// shape, and returns the entries newest first.
func readHistory(t *testing.T, g *clustertest.Client, sku string, limit int) []historyEntry {
	t.Helper()
	return readPages(t, g, sku, limit, "")
}

// readHistoryFrom reads the rest of a history from a cursor, in pages of 5.
func readHistoryFrom(t *testing.T, g *clustertest.Client, sku, cursor string) []historyEntry {
	t.Helper()
	if cursor == "" {
		return nil
	}
	return readPages(t, g, sku, 5, cursor)
}

func readPages(t *testing.T, g *clustertest.Client, sku string, limit int, cursor string) []historyEntry {
	t.Helper()
	var out []historyEntry
	for pages := 0; ; pages++ {
		q := fmt.Sprintf("/v1/products/%s/history?limit=%d", sku, limit)
		if cursor != "" {
			q += "&cursor=" + url.QueryEscape(cursor)
		}
		r := g.Expect(g.Do("GET", q, nil), 200, "")
		scale := int(units(t, r.Body["scale"], 0))
		entries := r.Body["entries"].([]any)
		if r.Str("sku") != sku || len(entries) > limit {
			t.Fatalf("page %d: %s", pages, r.Raw)
		}
		for _, raw := range entries {
			e := raw.(map[string]any)
			out = append(out, historyEntry{id: str(e["id"]), at: str(e["at"]), kind: str(e["kind"]), ref: str(e["ref"]),
				actor: str(e["actor"]), requestID: str(e["request_id"]),
				dOnHand: units(t, e["delta_on_hand"], scale), dReserved: units(t, e["delta_reserved"], scale),
				onHand: units(t, e["on_hand_after"], scale), reserved: units(t, e["reserved_after"], scale),
				available: units(t, e["available_after"], scale)})
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			if r.Body["next_cursor"] != nil {
				t.Fatalf("next_cursor %v", r.Body["next_cursor"])
			}
			return out
		}
		if len(entries) != limit {
			t.Fatalf("a page of %d entries before the last one (limit %d)", len(entries), limit)
		}
		cursor = next
	}
}

// checkChain checks that the entries (newest first) are the product's whole ledger: replayed from
// zero, oldest first, every entry's resulting quantities are the running sums, and the newest
// one's are the product's current on_hand and reserved.
func checkChain(t *testing.T, g *clustertest.Client, sku string, entries []historyEntry) {
	t.Helper()
	p := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, "")
	scale := int(units(t, p.Body["scale"], 0))
	var onHand, reserved int64
	seen := map[string]bool{}
	for i := len(entries) - 1; i >= 0; i-- {
		e := entries[i]
		onHand += e.dOnHand
		reserved += e.dReserved
		if e.onHand != onHand || e.reserved != reserved || e.available != onHand-reserved {
			t.Errorf("%s entry %d (%s %s): after %d/%d/%d, want %d/%d/%d", sku, i, e.kind, e.id, e.onHand, e.reserved, e.available,
				onHand, reserved, onHand-reserved)
		}
		if seen[e.id] || e.id == "" {
			t.Errorf("%s: entry id %q repeated or empty", sku, e.id)
		}
		seen[e.id] = true
		if i > 0 && entries[i-1].at < e.at {
			t.Errorf("%s: entry %d is newer than the one before it", sku, i)
		}
	}
	if len(entries) == 0 || entries[len(entries)-1].kind != string(inventory.KindCreate) {
		t.Errorf("%s: the history does not start with the product's creation", sku)
	}
	if onHand != units(t, p.Body["on_hand"], scale) || reserved != units(t, p.Body["reserved"], scale) {
		t.Errorf("%s: ledger ends at %d/%d, product is %s/%s", sku, onHand, reserved, p.Num("on_hand"), p.Num("reserved"))
	}
}

// A product's history names who did each change (the API key, or the worker) and the request
// id, and the quantities it left, exactly, at every scale; pages chain without gaps; the expiry
// worker's and the recovery worker's changes carry their names.
func TestProductHistory(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	clerk := c.IssueKey(t, auth.Spec{Name: "clerk", Scopes: auth.NewScopeSet(auth.ScopeRead, auth.ScopeWrite, auth.ScopeReserve)})
	g := c.StartGateway(t, gateway.Options{}, func(cfg *configs.Config) { cfg.Reservation.SweepInterval = 50 * time.Millisecond })
	w := g.As(clerk.Token)
	skus := c.SKUsPerShard(t, "HIST")
	type step struct {
		method, path, body string
		kinds              []inventory.ChangeKind // rows it writes for the SKU, oldest first
	}
	for i, sku := range skus {
		scale := []int{0, 3, 6}[i]
		q := func(u int64) string { return inventory.FormatUnits(u, scale) }
		reserve := func(u int64, ttl int) string {
			return fmt.Sprintf(`{"order_id":"h-%s-%d","ttl_seconds":%d,"lines":[{"sku":"%s","quantity":%s}]}`, sku, u, ttl, sku, q(u))
		}
		steps := []step{
			// A new product is out of stock (an alert opens) until the first receipt (it resolves).
			{"PUT", "/v1/products/" + sku, fmt.Sprintf(`{"name":"h","scale":%d}`, scale), []inventory.ChangeKind{inventory.KindCreate, inventory.KindAlertOut}},
			{"POST", "/v1/products/" + sku + "/adjustments", `{"delta":` + q(1200) + `,"reason":"receive"}`,
				[]inventory.ChangeKind{inventory.KindReceive, inventory.KindAlertResolved}},
			{"POST", "/v1/products/" + sku + "/adjustments", `{"delta":-` + q(7) + `,"reason":"damage"}`, []inventory.ChangeKind{inventory.KindDamage}},
			{"POST", "/v1/reservations", reserve(250, 600), []inventory.ChangeKind{inventory.KindReserve}},
			{"COMMIT", "", "", []inventory.ChangeKind{inventory.KindCommit}},
			{"POST", "/v1/reservations", reserve(100, 600), []inventory.ChangeKind{inventory.KindReserve}},
			{"RELEASE", "", "", []inventory.ChangeKind{inventory.KindRelease}},
			{"PUT", "/v1/products/" + sku + "/stock", `{"on_hand":` + q(2000) + `}`, []inventory.ChangeKind{inventory.KindCount}},
			{"POST", "/v1/reservations", reserve(30, 1), []inventory.ChangeKind{inventory.KindReserve}},
		}
		var wantKinds []string
		var wantRequests []string
		last := ""
		for n, s := range steps {
			reqID := fmt.Sprintf("hist-%s-%d", sku, n)
			method, path := s.method, s.path
			switch s.method {
			case "COMMIT", "RELEASE":
				method, path = "POST", "/v1/reservations/"+last+"/"+strings.ToLower(s.method)
			}
			var body any
			if s.body != "" {
				body = s.body
			}
			r := w.Do(method, path, body, "X-Request-Id", reqID)
			if r.Status/100 != 2 || r.Header.Get("X-Request-Id") != reqID {
				t.Fatalf("%s %s: %d %s (X-Request-Id %q)", method, path, r.Status, r.Raw, r.Header.Get("X-Request-Id"))
			}
			if id := r.Str("id"); id != "" {
				last = id
			}
			for _, k := range s.kinds {
				wantKinds = append(wantKinds, string(k))
				wantRequests = append(wantRequests, reqID)
			}
		}
		// The last reservation expires (ttl 1 s): the expiry worker releases it.
		deadline := time.Now().Add(10 * time.Second)
		for g.Expect(g.Do("GET", "/v1/reservations/"+last, nil), 200, "").Str("status") != "expired" {
			if time.Now().After(deadline) {
				t.Fatalf("%s: reservation %s did not expire", sku, last)
			}
			time.Sleep(50 * time.Millisecond)
		}
		wantKinds = append(wantKinds, string(inventory.KindExpire))
		wantRequests = append(wantRequests, "")

		full := readHistory(t, g.Client, sku, 1000)
		checkChain(t, g.Client, sku, full)
		if len(full) != len(wantKinds) {
			t.Fatalf("%s: %d entries, want %d: %+v", sku, len(full), len(wantKinds), full)
		}
		for n := range wantKinds {
			e := full[len(full)-1-n]
			wantActor := clerk.Key.ID
			if wantKinds[n] == string(inventory.KindExpire) {
				wantActor = inventory.ActorExpiry
			}
			if e.kind != wantKinds[n] || e.actor != wantActor || e.requestID != wantRequests[n] {
				t.Errorf("%s entry %d: %s by %q request %q; want %s by %q request %q", sku, n, e.kind, e.actor, e.requestID,
					wantKinds[n], wantActor, wantRequests[n])
			}
		}
		// Small pages give the same entries in the same order.
		for _, limit := range []int{1, 3} {
			paged := readHistory(t, g.Client, sku, limit)
			if fmt.Sprint(paged) != fmt.Sprint(full) {
				t.Errorf("%s: pages of %d differ from one page:\n%v\n%v", sku, limit, paged, full)
			}
		}
	}
	checkHistoryErrors(t, c, g, skus)
	checkRecoveryActor(t, c, g, clerk.Token)
	c.RequireInvariants(t, true)
}

// checkHistoryErrors: an unknown product is 404; a bad cursor, another product's cursor, an
// unknown parameter or a bad limit are 422.
func checkHistoryErrors(t *testing.T, c *clustertest.Cluster, g *clustertest.Gateway, skus []string) {
	t.Helper()
	g.Expect(g.Do("GET", "/v1/products/NOPE-404/history", nil), 404, "not_found")
	r := g.Expect(g.Do("GET", "/v1/products/"+skus[0]+"/history?limit=1", nil), 200, "")
	cursor := r.Str("next_cursor")
	if cursor == "" {
		t.Fatal("no next_cursor")
	}
	tampered := cursor[:len(cursor)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(cursor, "AA")]
	for _, q := range []string{
		"/v1/products/" + skus[0] + "/history?cursor=" + tampered,
		"/v1/products/" + skus[1] + "/history?cursor=" + url.QueryEscape(cursor),
		"/v1/products/" + skus[0] + "/history?cursor=",
		"/v1/products/" + skus[0] + "/history?limit=0",
		"/v1/products/" + skus[0] + "/history?limit=1001",
		"/v1/products/" + skus[0] + "/history?after=1",
	} {
		g.Expect(g.Do("GET", q, nil), 422, "validation_failed")
	}
	// A cursor opens on any gateway of the cluster (the key is the cluster's secret).
	other := c.StartGateway(t, gateway.Options{DisableWorkers: true}, nil)
	other.Expect(other.Do("GET", "/v1/products/"+skus[0]+"/history?limit=1&cursor="+url.QueryEscape(cursor), nil), 200, "")
}

// checkRecoveryActor: a cross-shard reservation whose coordinator died before deciding is rolled
// back by the recovery worker, which is the actor of the rolling-back rows; the reserve rows
// name the key and request that made them.
func checkRecoveryActor(t *testing.T, c *clustertest.Cluster, g *clustertest.Gateway, token string) {
	t.Helper()
	skus := c.SKUsPerShard(t, "HREC")
	crashed := c.StartGateway(t, gateway.Options{Failpoint: crashAt("saga.lines_reserved"), DisableWorkers: true}, nil)
	body := `{"order_id":"crash","lines":[`
	for i, s := range skus {
		crashed.Product(s, 0, "5")
		if i > 0 {
			body += ","
		}
		body += `{"sku":"` + s + `","quantity":2}`
	}
	if r := crashed.As(token).Do("POST", "/v1/reservations", body+"]}", "X-Request-Id", "crash-1"); r.Status != 500 {
		t.Fatalf("the coordinator should have died: %d %s", r.Status, r.Raw)
	}
	crashed.Close()
	deadline := time.Now().Add(15 * time.Second)
	for _, s := range skus {
		for {
			h := readHistory(t, g.Client, s, 100)
			if len(h) > 0 && h[0].kind == string(inventory.KindRelease) {
				if h[0].actor != inventory.ActorRecovery || h[1].kind != string(inventory.KindReserve) || h[1].requestID != "crash-1" {
					t.Errorf("%s: %+v", s, h[:2])
				}
				checkChain(t, g.Client, s, h)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no recovery release in %+v", s, h)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
