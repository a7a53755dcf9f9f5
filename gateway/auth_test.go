package gateway_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// authFixture is a cluster whose gateway has a product, a held reservation, a webhook and an
// alert, and keys for every kind of refusal.
type authFixture struct {
	c        *clustertest.Cluster
	g        *clustertest.Gateway
	sku      string
	ids      map[string]string // path prefix → an existing id under it
	unknown  string            // a well-formed key the metadata store never saw
	revoked  string
	lacking  map[string]string // scope → a key with every other scope
	skuAlert string
	stores   map[string]*shard.Store
	meta     *shard.Meta
}

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	c := clustertest.New(t, clustertest.Options{})
	f := &authFixture{c: c, lacking: map[string]string{}, ids: map[string]string{}, stores: c.Stores(t), meta: c.Meta(t)}
	all := auth.NewScopeSet(auth.AllScopes...)
	revoked := c.IssueKey(t, auth.Spec{Name: "revoked", Scopes: all})
	if _, _, err := f.meta.RevokeKey(context.Background(), revoked.Key.ID); err != nil {
		t.Fatal(err)
	}
	f.revoked = revoked.Token
	for _, s := range auth.AllScopes {
		var others []auth.Scope
		for _, o := range auth.AllScopes {
			if o != s {
				others = append(others, o)
			}
		}
		f.lacking[string(s)] = c.IssueKey(t, auth.Spec{Name: "no-" + string(s), Scopes: auth.NewScopeSet(others...)}).Token
	}
	gen, err := auth.Generate()
	if err != nil {
		t.Fatal(err)
	}
	f.unknown = gen.Token
	// No workers: nothing but the requests below changes the state the test compares.
	f.g = c.StartGateway(t, gateway.Options{DisableWorkers: true}, func(cfg *configs.Config) { cfg.Webhooks.AllowLoopback = true })
	g := f.g
	f.sku = c.SKUsPerShard(t, "AUTH")[0]
	g.Product(f.sku, 0, "10")
	f.ids["/v1/reservations/"] = g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"auth-1","lines":[{"sku":"`+f.sku+`","quantity":1}]}`), 201, "").Str("id")
	f.ids["/v1/webhooks/"] = g.Expect(g.Do("POST", "/v1/webhooks", `{"url":"http://127.0.0.1:9/hook","secret":"0123456789abcdef-secret"}`), 201, "").Str("id")
	f.skuAlert = c.SKUsPerShard(t, "AUTHLOW")[1]
	g.Expect(g.Do("PUT", "/v1/products/"+f.skuAlert, `{"name":"low","low_stock_threshold":5}`), 201, "")
	g.Expect(g.Do("POST", "/v1/products/"+f.skuAlert+"/adjustments", `{"delta":2,"reason":"receive"}`), 200, "")
	alerts := g.Expect(g.Do("GET", "/v1/alerts", nil), 200, "").Body["alerts"].([]any)
	if len(alerts) == 0 {
		t.Fatal("no alert opened for the fixture")
	}
	f.ids["/v1/alerts/"] = alerts[0].(map[string]any)["id"].(string)
	return f
}

// path fills a route template's variables with the fixture's ids.
func (f *authFixture) path(t *testing.T, tmpl string) string {
	t.Helper()
	p := strings.ReplaceAll(tmpl, "{sku}", f.sku)
	if strings.Contains(p, "{id}") {
		for prefix, id := range f.ids {
			if strings.HasPrefix(p, prefix) {
				return strings.ReplaceAll(p, "{id}", id)
			}
		}
		t.Fatalf("no fixture id for %s: add one to newAuthFixture", tmpl)
	}
	return p
}

// matrixBodies are request bodies that would change something if accepted; other POST and PUT
// routes get {}.
func matrixBodies(sku string) map[string]string {
	return map[string]string{
		"PUT /v1/products/{sku}":              `{"name":"renamed by an intruder"}`,
		"POST /v1/products/{sku}/adjustments": `{"delta":5,"reason":"receive"}`,
		"PUT /v1/products/{sku}/stock":        `{"on_hand":99}`,
		"POST /v1/products/{sku}/lots":        `{"lot":"L-1","quantity":3,"expires_at":"2099-01-01T00:00:00Z"}`,
		"POST /v1/reservations":               `{"order_id":"intruder","lines":[{"sku":"` + sku + `","quantity":1}]}`,
		"POST /v1/webhooks":                   `{"url":"http://127.0.0.1:9/other","secret":"0123456789abcdef-other"}`,
	}
}

// authSnapshot is everything a refused request must leave alone: the shards' rows (products,
// change log, reservations, idempotency claims) and the metadata store's webhooks and cursors,
// plus the alerts and the webhook as the API shows them.
func authSnapshot(t *testing.T, f *authFixture) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(snapshotWith(t, f.c, f.stores, f.g, []string{f.sku, f.skuAlert}))
	ctx := context.Background()
	for _, s := range f.c.Shards {
		var n int
		if err := f.stores[s.Name].DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM idempotency_keys").Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, " %s.idempotency_keys=%d", s.Name, n)
	}
	for _, table := range []string{"webhooks", "event_cursors", "webhook_dead_letters"} {
		var n int
		if err := f.meta.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, " meta.%s=%d", table, n)
	}
	b.Write(f.g.Expect(f.g.Do("GET", "/v1/alerts?status=open", nil), 200, "").Raw)
	b.Write(f.g.Expect(f.g.Do("GET", "/v1/reservations/"+f.ids["/v1/reservations/"], nil), 200, "").Raw)
	b.Write(f.g.Do("GET", "/v1/webhooks/"+f.ids["/v1/webhooks/"], nil).Raw)
	return b.String()
}

// Every route of the gateway (the route table is iterated, so a new route is covered the day it
// is added) × {no key, unknown key, revoked key, a key without the route's scope}: exactly 401
// unauthorized or 403 forbidden with the error envelope and the RFC 6750 challenge, and nothing
// changes: no row, no Idempotency-Key claimed (the same key then works for the right caller),
// no webhook, no alert acknowledged. Public routes answer without a key.
func TestEveryRouteRefusesBadKeys(t *testing.T) {
	f := newAuthFixture(t)
	g := f.g
	bodies := matrixBodies(f.sku)
	routes := g.Server.RoutesForTest()
	if len(routes) < 25 {
		t.Fatalf("only %d routes", len(routes))
	}
	for i, rt := range routes {
		path := f.path(t, rt.Path)
		if rt.Public {
			if r := g.As("").Do(rt.Method, path, nil); r.Status == 401 || r.Status == 403 {
				t.Errorf("%s %s is public but answered %d", rt.Method, rt.Path, r.Status)
			}
			continue
		}
		var body any
		if rt.Method == "POST" || rt.Method == "PUT" {
			body = "{}"
			if b, ok := bodies[rt.Method+" "+rt.Path]; ok {
				body = b
			}
		}
		key := fmt.Sprintf("matrix-%d", i)
		for _, tc := range []struct {
			name, token string
			status      int
			code        string
			challenge   string
		}{
			{"no key", "", 401, "unauthorized", `Bearer realm="shardstock"`},
			{"unknown key", f.unknown, 401, "unauthorized", `Bearer realm="shardstock", error="invalid_token"`},
			{"revoked key", f.revoked, 401, "unauthorized", `Bearer realm="shardstock", error="invalid_token"`},
			{"wrong scope", f.lacking[rt.Scope], 403, "forbidden",
				`Bearer realm="shardstock", error="insufficient_scope", scope="` + rt.Scope + `"`},
		} {
			before := authSnapshot(t, f)
			r := g.As(tc.token).Do(rt.Method, path, body, "Idempotency-Key", key)
			if r.Status != tc.status || r.ErrorCode() != tc.code {
				t.Errorf("%s %s, %s: %d %s; want %d %s", rt.Method, rt.Path, tc.name, r.Status, r.Raw, tc.status, tc.code)
				continue
			}
			if got := r.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("%s %s, %s: WWW-Authenticate %q, want %q", rt.Method, rt.Path, tc.name, got, tc.challenge)
			}
			if e, ok := r.Body["error"].(map[string]any); !ok || e["message"] == "" || e["details"] == nil {
				t.Errorf("%s %s, %s: error envelope incomplete: %s", rt.Method, rt.Path, tc.name, r.Raw)
			}
			if tc.code == "forbidden" && r.Body["error"].(map[string]any)["details"].(map[string]any)["required_scope"] != rt.Scope {
				t.Errorf("%s %s: forbidden without details.required_scope: %s", rt.Method, rt.Path, r.Raw)
			}
			if after := authSnapshot(t, f); after != before {
				t.Errorf("%s %s, %s: a refused request changed state:\nbefore %s\nafter  %s", rt.Method, rt.Path, tc.name, before, after)
			}
		}
		if !rt.Table {
			continue // the stream would not end; /metrics with the key is tested elsewhere
		}
		// The right key gets through, and the Idempotency-Key the refusals carried is unclaimed.
		r := g.Do(rt.Method, path, body, "Idempotency-Key", key)
		if r.Status == 401 || r.Status == 403 || r.Header.Get("Idempotent-Replayed") != "" {
			t.Errorf("%s %s with the admin key: %d (replayed %q) %s", rt.Method, rt.Path, r.Status, r.Header.Get("Idempotent-Replayed"), r.Raw)
		}
	}
	f.c.RequireInvariants(t, true)
}

// Malformed Authorization headers are refused like a missing key, with invalid_request.
func TestMalformedAuthorization(t *testing.T) {
	f := newAuthFixture(t)
	for _, h := range []string{"Basic dXNlcjpwYXNz", "Bearer", "Bearer " + f.c.AdminToken + " x", "Token " + f.c.AdminToken} {
		r := f.g.As("").Do("GET", "/v1/products/"+f.sku, nil, "Authorization", h)
		if r.Status != 401 || r.ErrorCode() != "unauthorized" || !strings.Contains(r.Header.Get("WWW-Authenticate"), `error="invalid_request"`) {
			t.Errorf("Authorization %q: %d %s %q", h, r.Status, r.Raw, r.Header.Get("WWW-Authenticate"))
		}
	}
	// The scheme is case-insensitive.
	f.g.As("").Expect(f.g.As("").Do("GET", "/v1/products/"+f.sku, nil, "Authorization", "bearer "+f.c.AdminToken), 200, "")
}

// A revoked key is refused by every gateway within 2 s, and a new key works within 2 s, without
// a restart (each gateway polls the keys' version every auth.refresh_interval, 1 s).
func TestKeyChangesReachEveryGatewayWithin2s(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	k := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead)})
	gws := []*clustertest.Gateway{c.StartGateway(t, gateway.Options{}, nil), c.StartGateway(t, gateway.Options{}, nil)}
	for _, g := range gws {
		g.As(k.Token).Expect(g.As(k.Token).Do("GET", "/v1/products/NONE", nil), 404, "not_found")
	}
	// waitAll polls every gateway until ok holds for its answer and returns the slowest delay.
	waitAll := func(what, token string, ok func(clustertest.Response) bool) time.Duration {
		start := time.Now()
		var slowest time.Duration
		var wg sync.WaitGroup
		var mu sync.Mutex
		for i, g := range gws {
			wg.Go(func() {
				for {
					r, err := g.As(token).Try("GET", "/v1/products/NONE", nil)
					if err == nil && ok(r) {
						mu.Lock()
						slowest = max(slowest, time.Since(start))
						mu.Unlock()
						return
					}
					if time.Since(start) > 2*time.Second {
						t.Errorf("gateway %d: %s not seen within 2s (last answer %d %s)", i+1, what, r.Status, r.Raw)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
		wg.Wait()
		return slowest
	}
	if _, _, err := c.Meta(t).RevokeKey(context.Background(), k.Key.ID); err != nil {
		t.Fatal(err)
	}
	d := waitAll("revocation", k.Token, func(r clustertest.Response) bool {
		return r.Status == 401 && r.ErrorCode() == "unauthorized" && strings.Contains(string(r.Raw), "revoked")
	})
	t.Logf("revocation seen by both gateways after %s", d)
	fresh := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead)})
	d = waitAll("a new key", fresh.Token, func(r clustertest.Response) bool { return r.Status == 404 })
	t.Logf("new key accepted by both gateways after %s", d)
}

// The per-key token bucket is exact under concurrency: with a burst of B and a rate near zero,
// exactly B of many concurrent writes pass; every other one is 429 rate_limited with
// Retry-After and changes nothing. Other keys are not affected.
func TestRateLimitExactUnderConcurrency(t *testing.T) {
	const burst, goroutines, each = 7, 16, 6
	c := clustertest.New(t, clustertest.Options{})
	k := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead, auth.ScopeWrite), Rate: 0.001, Burst: burst})
	g := c.StartGateway(t, gateway.Options{}, nil)
	sku := c.SKUsPerShard(t, "RATE")[0]
	g.Product(sku, 0, "")
	limited := g.As(k.Token)
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				r, err := limited.Try("POST", "/v1/products/"+sku+"/adjustments", `{"delta":1,"reason":"receive"}`)
				if err != nil {
					t.Error(err)
					return
				}
				if r.Status == 429 {
					ra := r.Header.Get("Retry-After")
					details, _ := r.Body["error"].(map[string]any)["details"].(map[string]any)
					if r.ErrorCode() != "rate_limited" || ra == "" || ra == "0" || fmt.Sprint(details["retry_after_seconds"]) != ra {
						t.Errorf("429 without rate_limited and a matching Retry-After: %q %s", ra, r.Raw)
					}
				}
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if statuses[200] != burst || statuses[429] != goroutines*each-burst || len(statuses) != 2 {
		t.Fatalf("statuses %v; want exactly %d × 200 and the rest 429", statuses, burst)
	}
	p := g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, "")
	if p.Num("on_hand") != fmt.Sprint(burst) {
		t.Errorf("on_hand %s after %d admitted adjustments of +1", p.Num("on_hand"), burst)
	}
	// The admin key has its own (unlimited) bucket.
	g.Expect(g.Do("GET", "/v1/products/"+sku, nil), 200, "")
	c.RequireInvariants(t, true)
}

// The event stream needs the read scope like GET /v1/events, and a stream that is open when its
// key is revoked ends within the refresh interval (plus a poll).
func TestEventStreamEndsWhenItsKeyIsRevoked(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Shards: 2})
	k := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeRead)})
	writer := c.IssueKey(t, auth.Spec{Scopes: auth.NewScopeSet(auth.ScopeWrite)})
	g := c.StartGateway(t, gateway.Options{}, nil)
	g.As(writer.Token).Expect(g.As(writer.Token).Do("GET", "/v1/events/stream", nil), 403, "forbidden")

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", g.HTTP.URL+"/v1/events/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+k.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("stream: %d, X-Request-Id %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	ended := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, resp.Body)
		ended <- err
	}()
	select {
	case err := <-ended:
		t.Fatalf("the stream ended before the revocation: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, _, err := c.Meta(t).RevokeKey(context.Background(), k.Key.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if err != nil {
			t.Fatalf("the stream failed instead of ending: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stream of a revoked key is still open after 5 s")
	}
	g.As(k.Token).Expect(g.As(k.Token).Do("GET", "/v1/events/stream", nil), 401, "unauthorized")
}
