package demo_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/demo"
	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// startGateway creates a two-shard cluster on fresh databases and an API key with every scope,
// and serves its gateway; it returns the gateway's URL and the key.
func startGateway(t *testing.T) (string, string) {
	t.Helper()
	ctx := context.Background()
	srv := testdb.Server(t)
	metaDSN := srv.NewDatabase(t, "demo_meta")
	shards := []migrate.ShardSpec{
		{Name: "shard-1", DSN: srv.NewDatabase(t, "demo_shard1")},
		{Name: "shard-2", DSN: srv.NewDatabase(t, "demo_shard2")},
	}
	if _, err := migrate.InitCluster(ctx, metaDSN, 128, shards); err != nil {
		t.Fatalf("init cluster: %v", err)
	}
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	key, err := auth.Issue(ctx, meta, auth.Spec{Name: "demo test", Scopes: auth.NewScopeSet(auth.AllScopes...)})
	if err != nil {
		t.Fatalf("issue key: %v", err)
	}
	cfg := configs.Default()
	cfg.MetaDSN = metaDSN
	gw, err := gateway.New(ctx, cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	hs := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		hs.Close()
		gw.Close()
	})
	return hs.URL, key.Token
}

type product struct {
	SKU       string          `json:"sku"`
	Scale     int             `json:"scale"`
	OnHand    json.RawMessage `json:"on_hand"`
	Reserved  json.RawMessage `json:"reserved"`
	Available json.RawMessage `json:"available"`
	Version   int64           `json:"version"`
}

func getProduct(t *testing.T, base, token, sku string) product {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/products/"+sku, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s %s", sku, resp.Status, b)
	}
	var p product
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	base, token := startGateway(t)
	ctx := context.Background()

	if _, err := demo.Loaded(ctx, base, ""); err == nil || !strings.Contains(err.Error(), "401 unauthorized") {
		t.Fatalf("Loaded without a key = %v; want 401 unauthorized", err)
	}
	if loaded, err := demo.Loaded(ctx, base, token); err != nil || loaded {
		t.Fatalf("Loaded before loading = %v, %v; want false", loaded, err)
	}
	var out strings.Builder
	if err := demo.Load(ctx, base, token, &out); err != nil {
		t.Fatalf("Load: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "demo: done") {
		t.Errorf("no final progress line:\n%s", out.String())
	}
	if loaded, err := demo.Loaded(ctx, base, token); err != nil || !loaded {
		t.Fatalf("Loaded after loading = %v, %v; want true", loaded, err)
	}

	catalogue := demo.Catalogue()
	first := getProduct(t, base, token, catalogue[0].SKU)
	if first.SKU != demo.FirstSKU() || first.Version < 2 || string(first.Reserved) != "1" {
		t.Errorf("first product = %+v, want stocked with 1 reserved (DEMO-ORDER-0005)", first)
	}
	coffee := getProduct(t, base, token, "DEMO-COFFEE-002")
	if coffee.Scale != 3 || string(coffee.Reserved) != "1.5" && string(coffee.Reserved) != "1.500" {
		t.Errorf("coffee = %+v, want scale 3 with 1.500 kg reserved", coffee)
	}
	var zero demo.Product
	for _, p := range catalogue {
		if p.Receive == 0 {
			zero = p
			break
		}
	}
	if got := getProduct(t, base, token, zero.SKU); string(got.OnHand) != "0" || got.Version != 1 {
		t.Errorf("out-of-stock product %s = %+v, want on_hand 0 at version 1", zero.SKU, got)
	}

	// Loading again replays every request by its Idempotency-Key and changes nothing.
	if err := demo.Load(ctx, base, token, io.Discard); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	if again := getProduct(t, base, token, catalogue[0].SKU); again.Version != first.Version || string(again.OnHand) != string(first.OnHand) {
		t.Errorf("after a second Load the first product is %+v, was %+v", again, first)
	}
}
