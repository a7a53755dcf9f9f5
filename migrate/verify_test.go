package migrate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// The verifier is clean on a healthy cluster and reports each kind of corruption.
func TestVerifyDetectsCorruption(t *testing.T) {
	corruptions := []struct {
		kind string
		sql  func(sku, other string) string
	}{
		{"stock_bounds", func(sku, _ string) string {
			return "UPDATE products SET reserved = on_hand + 1 WHERE sku = '" + sku + "'"
		}},
		{"ledger_on_hand", func(sku, _ string) string {
			return "UPDATE products SET on_hand = on_hand + 1 WHERE sku = '" + sku + "'"
		}},
		{"held_lines", func(sku, _ string) string {
			return "UPDATE reservation_lines SET quantity = quantity + 1 WHERE sku = '" + sku + "'"
		}},
		{"partial_reservation", func(sku, _ string) string {
			return "UPDATE reservation_lines SET status = 'released' WHERE sku = '" + sku + "'"
		}},
		{"wrong_partition", func(sku, _ string) string {
			return "UPDATE products SET partition_id = (partition_id + 1) % 64 WHERE sku = '" + sku + "'"
		}},
	}
	for _, cc := range corruptions {
		t.Run(cc.kind, func(t *testing.T) {
			c := clustertest.New(t, clustertest.Options{})
			g := c.StartGateway(t, gateway.Options{}, nil)
			skus := c.SKUsPerShard(t, "V")
			for _, s := range skus {
				g.Product(s, 0, "10")
			}
			g.Expect(g.Do("POST", "/v1/reservations", `{"order_id":"v","lines":[{"sku":"`+skus[0]+`","quantity":3},{"sku":"`+skus[1]+`","quantity":1}]}`), 201, "")
			if rep := c.Verify(t, true); !rep.Clean() || rep.Products != 3 || rep.Reservations != 1 {
				t.Fatalf("healthy cluster: %+v", rep)
			}
			stores := c.Stores(t)
			if _, err := stores[c.Shards[0].Name].DB().ExecContext(context.Background(), cc.sql(skus[0], skus[1])); err != nil {
				t.Fatal(err)
			}
			rep := c.Verify(t, true)
			found := false
			for _, v := range rep.Violations {
				if v.Kind == cc.kind && strings.Contains(v.String(), skus[0]) {
					found = true
				}
			}
			if !found {
				t.Errorf("corruption %s not reported; violations: %v", cc.kind, rep.Violations)
			}
		})
	}
}

// A product copied onto a shard that does not own its partition is reported twice over.
func TestVerifyDetectsMisplacedRows(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{})
	g := c.StartGateway(t, gateway.Options{}, nil)
	skus := c.SKUsPerShard(t, "W")
	g.Product(skus[0], 0, "4")
	stores := c.Stores(t)
	src, dst := stores[c.Shards[0].Name].DB(), stores[c.Shards[1].Name].DB()
	row := src.QueryRow("SELECT sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at FROM products WHERE sku = ?", skus[0])
	vals := make([]any, 11)
	ptrs := make([]any, 11)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := row.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec("INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)", vals...); err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, v := range c.Verify(t, true).Violations {
		kinds[v.Kind] = true
	}
	if !kinds["duplicate_product"] || !kinds["misplaced_product"] {
		t.Errorf("want duplicate_product and misplaced_product, got %v", kinds)
	}
}
