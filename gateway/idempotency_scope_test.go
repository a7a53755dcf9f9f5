package gateway

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/testdb"
)

// newScopeTestServer is a gateway over a fresh two-shard cluster, without workers (built here,
// not through clustertest, which imports this package), and the tokens of two API keys with
// every scope.
func newScopeTestServer(t *testing.T) (*Server, [2]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := testdb.Server(t)
	cfg := configs.Default()
	cfg.MetaDSN = srv.NewDatabase(t, "meta")
	shards := []migrate.ShardSpec{{Name: "shard-1", DSN: srv.NewDatabase(t, "shard1")}, {Name: "shard-2", DSN: srv.NewDatabase(t, "shard2")}}
	if _, err := migrate.InitCluster(ctx, cfg.MetaDSN, 16, shards); err != nil {
		t.Fatal(err)
	}
	meta, err := shard.OpenMeta(cfg.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	var tokens [2]string
	for i := range tokens {
		k, err := auth.Issue(ctx, meta, auth.Spec{Name: fmt.Sprintf("scope-%d", i), Scopes: auth.NewScopeSet(auth.AllScopes...)})
		if err != nil {
			t.Fatal(err)
		}
		tokens[i] = k.Token
	}
	s, err := New(ctx, cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableWorkers: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, tokens
}

// keyedAdjustment is an adjustment request of sku under key, as the endpoint wrapper hands it
// to the idempotency component.
func keyedAdjustment(sku, key, body string) *request {
	hr := httptest.NewRequest(http.MethodPost, "/v1/products/"+sku+"/adjustments", strings.NewReader(body))
	hr.Header.Set("Idempotency-Key", key)
	hr = mux.SetURLVars(hr, map[string]string{"sku": sku})
	return &request{Request: hr, body: []byte(body)}
}

// Idempotency keys are scoped by principal: two API keys that send the same key string never
// collide (each runs its own request and replays its own answer), while one principal reusing a
// key for another request is idempotency_conflict.
func TestIdempotencyKeysAreScopedByPrincipal(t *testing.T) {
	s, tokens := newScopeTestServer(t)
	var runs atomic.Int64
	fn := func(r *request) (int, any, error) {
		n := runs.Add(1)
		return http.StatusOK, map[string]any{"run": n, "body": string(r.body)}, nil
	}
	const route = "/v1/products/{sku}/adjustments"
	call := func(principal, body string) (int, string, http.Header) {
		status, payload, hdr := s.keys.call(keyedAdjustment("SCOPE-1", "order-42", body), route, principal, fn)
		return status, string(payload), hdr
	}
	stA, ansA, _ := call("key-A", `{"delta":1,"reason":"receive"}`)
	stB, ansB, _ := call("key-B", `{"delta":2,"reason":"receive"}`)
	if stA != 200 || stB != 200 || runs.Load() != 2 || ansA == ansB {
		t.Fatalf("two principals with one key string: %d %s / %d %s after %d runs; want both run", stA, ansA, stB, ansB, runs.Load())
	}
	if st, ans, hdr := call("key-A", `{"delta":1,"reason":"receive"}`); st != 200 || ans != ansA || hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay of principal A = %d %s %v, want A's first answer", st, ans, hdr)
	}
	if st, ans, _ := call("key-B", `{"delta":2,"reason":"receive"}`); st != 200 || ans != ansB {
		t.Errorf("replay of principal B = %d %s, want B's first answer", st, ans)
	}
	if st, ans, _ := call("key-A", `{"delta":3,"reason":"receive"}`); st != http.StatusUnprocessableEntity || !strings.Contains(ans, "idempotency_conflict") {
		t.Errorf("principal A reusing its key for another request = %d %s, want 422 idempotency_conflict", st, ans)
	}
	if st, _, _ := call("", `{"delta":4,"reason":"receive"}`); st != 200 || runs.Load() != 3 {
		t.Errorf("no principal (auth off): %d after %d runs, want its own scope", st, runs.Load())
	}
	if runs.Load() != 3 {
		t.Errorf("%d runs, want 3", runs.Load())
	}
	if KeyHash("", "k") == nil || fmt.Sprint(KeyHash("a", "k")) == fmt.Sprint(KeyHash("", "k")) {
		t.Error("a scoped key hashes like an unscoped one")
	}
	scopedOverHTTP(t, s, tokens)
}

// scopedOverHTTP is the scoping through the whole endpoint: two API keys send the same
// Idempotency-Key with different bodies and both are applied, each key replays its own answer,
// and one key reusing its Idempotency-Key with another body is 422.
func scopedOverHTTP(t *testing.T, s *Server, tokens [2]string) {
	t.Helper()
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	send := func(token, method, path, key, body string) (int, string, http.Header) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(raw), resp.Header
	}
	const path = "/v1/products/SCOPE-HTTP/adjustments"
	if st, ans, _ := send(tokens[0], "PUT", "/v1/products/SCOPE-HTTP", "", `{"name":"scoped"}`); st != http.StatusCreated {
		t.Fatalf("create product: %d %s", st, ans)
	}
	stA, ansA, _ := send(tokens[0], "POST", path, "same-key", `{"delta":1,"reason":"receive"}`)
	stB, ansB, _ := send(tokens[1], "POST", path, "same-key", `{"delta":2,"reason":"receive"}`)
	if stA != 200 || stB != 200 {
		t.Fatalf("two API keys, one Idempotency-Key, different bodies: %d %s / %d %s; want both 200", stA, ansA, stB, ansB)
	}
	if st, ans, hdr := send(tokens[1], "POST", path, "same-key", `{"delta":2,"reason":"receive"}`); st != 200 || ans != ansB || hdr.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay by the second key = %d %s (replayed %q), want its own first answer", st, ans, hdr.Get("Idempotent-Replayed"))
	}
	if st, ans, _ := send(tokens[0], "POST", path, "same-key", `{"delta":5,"reason":"receive"}`); st != http.StatusUnprocessableEntity || !strings.Contains(ans, "idempotency_conflict") {
		t.Errorf("the first key reusing its Idempotency-Key with another body = %d %s, want 422 idempotency_conflict", st, ans)
	}
	st, ans, _ := send(tokens[0], "GET", "/v1/products/SCOPE-HTTP", "", "")
	if st != 200 || !strings.Contains(ans, `"on_hand":3,`) {
		t.Errorf("product after both keys' adjustments = %d %s, want on_hand 3 (1 + 2, each applied once)", st, ans)
	}
}

// Every route that accepts an Idempotency-Key names the data its request changes, so that its
// claim lives there (a route missing from claimPlaces would claim in the key's home partition,
// failing while an unrelated shard is down).
func TestEveryKeyedRouteHasAClaimPlace(t *testing.T) {
	keyed := map[string]bool{}
	for _, rt := range (handlers{}).routes() {
		if rt.idempotent {
			keyed[rt.path] = true
			if _, ok := claimPlaces[rt.path]; !ok {
				t.Errorf("route %s %s accepts an Idempotency-Key but has no claim place", rt.method, rt.path)
			}
		}
	}
	for path := range claimPlaces {
		if !keyed[path] {
			t.Errorf("claim place for %s, which is not a keyed route", path)
		}
	}
}
