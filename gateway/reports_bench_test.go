package gateway_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// BenchmarkReports loads SHARDSTOCK_BENCH_PRODUCTS products (default 1,000,000) over four
// shards, each its own server process, straight into the shard databases, then measures for
// every report the gateway's HTTP latency and, in the same iteration, the latency of the
// slowest shard running the same per-shard query directly (all shards in parallel, as the
// scatter does). It prints p50/p99 of both and their ratio; it asserts nothing about time.
//
//	go test ./gateway/ -run XXX -bench BenchmarkReports -benchtime 200x -timeout 30m
func BenchmarkReports(b *testing.B) {
	n := 1_000_000
	if v := os.Getenv("SHARDSTOCK_BENCH_PRODUCTS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			b.Fatalf("SHARDSTOCK_BENCH_PRODUCTS=%q is not a positive integer", v)
		}
	}
	c, _ := clustertest.NewOnServers(b, 4, clustertest.Options{Partitions: 1024})
	stores := c.Stores(b)
	ctx := context.Background()
	for _, st := range stores {
		// The test servers start with a 64 MB buffer pool; give each shard room for its data.
		if _, err := st.DB().ExecContext(ctx, "SET GLOBAL innodb_buffer_pool_size = 512*1024*1024"); err != nil {
			b.Logf("cannot grow the buffer pool: %v", err)
		}
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(11, 13))
	top := c.Topology(b)
	const chunk = 100_000
	for done := 0; done < n; done += chunk {
		rows := randomCatalogue(rng, min(chunk, n-done), fmt.Sprintf("B%02d", done/chunk))
		loadCatalogue(b, top, stores, rows)
	}
	for _, st := range stores {
		if _, err := st.DB().ExecContext(ctx, "ANALYZE TABLE products"); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("loaded %d products over 4 shards in %s", n, time.Since(start).Round(time.Second))

	g := c.StartGateway(b, gateway.Options{}, func(cfg *configs.Config) {
		cfg.Reports.ShardTimeout = 30 * time.Second
		cfg.HTTP.RequestTimeout = time.Minute
	})
	tools := "tools"
	// Each shard's partitions, read once: the shard-side timings must cover the query alone.
	owned := map[*shard.Store][]int{}
	for _, st := range stores {
		owned[st] = shardPartitions(ctx, st)
	}
	parts := func(st *shard.Store) []int { return owned[st] }
	// A cursor in the middle of the catalogue, to page from there.
	mid := g.Expect(g.Do("GET", "/v1/products?limit=1000", nil), 200, "")
	for i := 0; i < 5; i++ {
		mid = g.Expect(g.Do("GET", "/v1/products?limit=1000&cursor="+mid.Str("next_cursor"), nil), 200, "")
	}
	midSKU := mid.Body["products"].([]any)[999].(map[string]any)["sku"].(string)
	reports := []struct {
		name  string
		path  string
		shard func(ctx context.Context, st *shard.Store) error
	}{
		{"summary", "/v1/stats/summary", func(ctx context.Context, st *shard.Store) error {
			_, err := st.StockSummary(ctx, parts(st))
			return err
		}},
		{"categories", "/v1/stats/categories", func(ctx context.Context, st *shard.Store) error {
			_, err := st.CategoryStats(ctx, parts(st))
			return err
		}},
		{"low-stock", "/v1/stats/low-stock?limit=50", func(ctx context.Context, st *shard.Store) error {
			_, err := st.LowStock(ctx, shard.ReportFilter{Partitions: parts(st)}, 50)
			return err
		}},
		{"low-stock category", "/v1/stats/low-stock?limit=1000&category=tools", func(ctx context.Context, st *shard.Store) error {
			_, err := st.LowStock(ctx, shard.ReportFilter{Partitions: parts(st), Category: &tools}, 1000)
			return err
		}},
		{"listing page", "/v1/products?limit=50&cursor=" + mid.Str("next_cursor"), func(ctx context.Context, st *shard.Store) error {
			_, err := st.ProductPage(ctx, shard.ReportFilter{Partitions: parts(st)}, midSKU, 51)
			return err
		}},
		{"listing category", "/v1/products?limit=50&category=tools", func(ctx context.Context, st *shard.Store) error {
			_, err := st.ProductPage(ctx, shard.ReportFilter{Partitions: parts(st), Category: &tools}, "", 51)
			return err
		}},
	}
	table := map[string]string{}
	for _, rep := range reports {
		b.Run(rep.name, func(b *testing.B) {
			var gw, sh []time.Duration
			for i := 0; i < b.N; i++ {
				gw = append(gw, timeRequest(b, g, rep.path))
				sh = append(sh, slowestShard(b, stores, rep.shard))
			}
			gp50, gp99 := percentile(gw, 50), percentile(gw, 99)
			sp50, sp99 := percentile(sh, 50), percentile(sh, 99)
			b.ReportMetric(ms(gp50), "p50-ms")
			b.ReportMetric(ms(gp99), "p99-ms")
			b.ReportMetric(ms(gp50)/ms(sp50), "p50-ratio")
			table[rep.name] = (fmt.Sprintf("| %-18s | %6d | %8.2f | %8.2f | %8.2f | %8.2f | %5.2f | %5.2f |", rep.name, len(gw),
				ms(gp50), ms(gp99), ms(sp50), ms(sp99), ms(gp50)/ms(sp50), ms(gp99)/ms(sp99)))
		})
	}
	var lines []string
	for _, rep := range reports {
		lines = append(lines, table[rep.name])
	}
	out := fmt.Sprintf("\nreports over %d products, 4 shards (latency in ms; ratio = report / slowest shard)\n", n) +
		"| report             |  iters | rep p50  | rep p99  | shard p50| shard p99| r p50 | r p99 |\n" +
		"|--------------------|--------|----------|----------|----------|----------|-------|-------|\n" +
		strings.Join(lines, "\n") + "\n"
	b.Log(out)
	fmt.Print(out)
}

// timeRequest measures one GET as a client sees it: until the whole body is read (not decoded).
func timeRequest(b *testing.B, g *clustertest.Gateway, path string) time.Duration {
	t0 := time.Now()
	resp, err := g.Client.HTTP.Get(g.Base + path)
	if err != nil {
		b.Fatal(err)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return d
}

// slowestShard runs fn on every shard in parallel and returns the longest latency.
func slowestShard(b *testing.B, stores map[string]*shard.Store, fn func(ctx context.Context, st *shard.Store) error) time.Duration {
	var mu sync.Mutex
	var worst time.Duration
	var wg sync.WaitGroup
	for _, st := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			if err := fn(context.Background(), st); err != nil {
				b.Error(err)
			}
			d := time.Since(t0)
			mu.Lock()
			worst = max(worst, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return worst
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// shardPartitions lists the partitions the shard owns (its fences), as the gateway's map does.
func shardPartitions(ctx context.Context, st *shard.Store) []int {
	f, err := st.Mover().Fences(ctx)
	if err != nil {
		return nil
	}
	var out []int
	for p, state := range f {
		if state == inventory.FenceOwned {
			out = append(out, p)
		}
	}
	return out
}
