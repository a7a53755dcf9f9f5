package migrate_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/tools/clustertest"
	"github.com/shardstock/shardstock/tools/testdb"
)

// BenchmarkReshard loads SHARDSTOCK_BENCH_RESHARD_PRODUCTS products (default 200,000) with one
// ledger row each over 3 shards, runs a mixed client load through two gateways, adds a fourth
// shard online and prints: copy throughput (rows/s), write pause per cutover batch (p50, p99,
// max), client-visible errors, and verify throughput (rows/s). It asserts nothing about time.
//
//	go test -run '^$' -bench BenchmarkReshard -benchtime 1x -timeout 30m ./migrate/
func BenchmarkReshard(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("SHARDSTOCK_BENCH_RESHARD_PRODUCTS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < b.N; i++ {
		c := clustertest.New(b, clustertest.Options{Shards: 3, Partitions: 1024})
		loadStart := time.Now()
		bulkLoad(b, c, n)
		b.Logf("loaded %d products (+%d ledger rows) in %s", n, n, time.Since(loadStart).Round(time.Millisecond))
		g1 := c.StartGateway(b, gateway.Options{}, nil)
		g2 := c.StartGateway(b, gateway.Options{}, nil)
		w := clustertest.NewWorkload(b, []*clustertest.Client{g1.Client, g2.Client}, 200, 100000)
		ctx, stop := context.WithCancel(context.Background())
		wait := w.Run(ctx, b, 8)
		time.Sleep(time.Second)

		r, err := migrate.NewResharder(c.MetaDSN, migrate.ReshardOptions{Parallel: 4, CutoverBatch: 16, ChunkRows: 2000})
		if err != nil {
			b.Fatal(err)
		}
		var copyStart, copyEnd, catchStart time.Time
		r2, _ := migrate.NewResharder(c.MetaDSN, migrate.ReshardOptions{Parallel: benchParallel(), CutoverBatch: 16, ChunkRows: 2000,
			OnProgress: func(phase string, p migrate.Progress) {
				switch {
				case phase == "importing" && copyStart.IsZero():
					copyStart = time.Now()
				case phase == "catchup" && catchStart.IsZero():
					catchStart = time.Now()
				case phase == "cutover" && copyEnd.IsZero():
					copyEnd = time.Now()
				}
			}})
		r.Close()
		start := time.Now()
		job, err := r2.Start(context.Background(), []migrate.ShardSpec{{Name: "shard-4", DSN: testdb.Server(b).NewDatabase(b, "shard4")}}, nil)
		total := time.Since(start)
		time.Sleep(500 * time.Millisecond)
		stop()
		wait()
		if err != nil {
			b.Fatal(err)
		}
		var pauses []int
		seen := map[int]bool{}
		for _, m := range job.Moves {
			_ = seen
			pauses = append(pauses, m.PauseMillis)
		}
		sort.Ints(pauses)
		sum := job.Summary()
		copySecs := copyEnd.Sub(copyStart).Seconds()
		pureCopy := catchStart.Sub(copyStart).Seconds()
		vStart := time.Now()
		rep := c.Verify(b, false)
		vSecs := time.Since(vStart).Seconds()
		vRows := rep.Products + rep.Changes + rep.Lines + rep.Reservations
		fmt.Printf("\nreshard benchmark: %d products over 3 shards → add shard-4, 8 clients on 2 gateways\n", n)
		fmt.Printf("  partitions moved        %d of 1024\n", sum.Partitions)
		fmt.Printf("  rows copied             %d in %.2fs (copy + catch-up phase) → %.0f rows/s; whole job incl. plan, new-shard migration, cutover %.2fs\n", sum.RowsCopied, copySecs, float64(sum.RowsCopied)/copySecs, total.Seconds())
		fmt.Printf("  of which the copy phase %.2fs → %.0f rows/s (the rest is catch-up rounds under load)\n", pureCopy, float64(sum.RowsCopied)/pureCopy)
		fmt.Printf("  write pause per batch   p50 %d ms, p99 %d ms, max %d ms (batches of 16 partitions)\n", pct(pauses, 50), pct(pauses, 99), pauses[len(pauses)-1])
		fmt.Printf("  client requests         %d, retried after 5xx/transport error %d, unexpected answers %d\n", w.Requests.Load(), w.Retries.Load(), w.Errors.Load())
		fmt.Printf("  verify                  %d rows in %.2fs → %.0f rows/s, clean=%v\n", vRows, vSecs, float64(vRows)/vSecs, rep.Clean())
		r2.Close()
	}
}

func pct(sorted []int, p int) int {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

// bulkLoad inserts n products (and a receive ledger row each) straight into their owners.
func bulkLoad(b *testing.B, c *clustertest.Cluster, n int) {
	top := c.Topology(b)
	stores := c.Stores(b)
	type batch struct{ prod, chg []string }
	batches := map[string]*batch{}
	flush := func(name string, bt *batch) {
		if len(bt.prod) == 0 {
			return
		}
		db := stores[name].DB()
		if _, err := db.Exec("INSERT INTO products (sku, partition_id, name, category, scale, on_hand, reserved, low_stock_threshold, version, created_at, updated_at) VALUES " + strings.Join(bt.prod, ",")); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Exec("INSERT INTO changes (partition_id, sku, kind, delta_on_hand, delta_reserved, ref, created_at) VALUES " + strings.Join(bt.chg, ",")); err != nil {
			b.Fatal(err)
		}
		bt.prod, bt.chg = bt.prod[:0], bt.chg[:0]
	}
	for i := 0; i < n; i++ {
		sku := fmt.Sprintf("BULK-%08d", i)
		p := router.Partition(sku, top.Partitions)
		owner, _ := top.Map.Owner(p)
		bt := batches[owner]
		if bt == nil {
			bt = &batch{}
			batches[owner] = bt
		}
		stock := 1 + i%500
		bt.prod = append(bt.prod, fmt.Sprintf("('%s',%d,'Bulk %d','cat-%d',0,%d,0,10,2,UTC_TIMESTAMP(6),UTC_TIMESTAMP(6))", sku, p, i, i%20, stock))
		bt.chg = append(bt.chg, fmt.Sprintf("(%d,'%s','receive',%d,0,'',UTC_TIMESTAMP(6))", p, sku, stock))
		if len(bt.prod) == 2000 {
			flush(owner, bt)
		}
	}
	for name, bt := range batches {
		flush(name, bt)
	}
}

// benchParallel is the copy parallelism (SHARDSTOCK_BENCH_RESHARD_PARALLEL, default 8).
func benchParallel() int {
	if v, err := strconv.Atoi(os.Getenv("SHARDSTOCK_BENCH_RESHARD_PARALLEL")); err == nil && v > 0 {
		return v
	}
	return 8
}
