package main

import (
	"errors"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/tools/bench"
)

func (a *app) benchCommand() *cobra.Command {
	var o bench.Options
	cmd := &cobra.Command{
		Use:   "bench --target URL [--scenario NAME] [--duration D] [--concurrency C] [--direct DSN...]",
		Short: "HTTP load generator with latency percentiles and a direct-SQL baseline",
		Long: `Run a load scenario against a gateway and print throughput, p50/p90/p99/max latency and
the count of each status code. Scenarios:

  read     random GET /v1/products/{sku}
  reserve  random SKU: reserve one unit, then commit (or --settle release)
  hot      every client on one SKU (a flash sale)
  mixed    70% read, 20% reserve+settle, 10% adjustments
  report   GET /v1/stats/summary

The catalogue (BENCH-… SKUs with ample stock) is created first if missing. With --direct
(one DSN per shard, repeatable) the same operations also run as SQL straight against the
shards, and the report gives gateway/direct throughput as a ratio.

--token (or the SHARDSTOCK_TOKEN environment variable) is the API key sent as
"Authorization: Bearer <key>"; it needs the read and write scopes (catalogue setup) and read or
reserve for the scenario (e.g. the dev cluster's DIR/admin.token).`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Target == "" && len(o.DirectDSNs) == 0 {
				return usagef("give --target URL and/or --direct DSN")
			}
			if !cmd.Flags().Changed("token") {
				o.Token = os.Getenv("SHARDSTOCK_TOKEN")
			}
			_, err := bench.Run(cmd.Context(), o, a.stdout)
			if errors.Is(err, bench.ErrUsage) {
				return &usageError{err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Target, "target", "", "gateway base URL, e.g. http://127.0.0.1:8080")
	f.StringArrayVar(&o.DirectDSNs, "direct", nil, "a shard DSN for the direct SQL baseline (repeat for every shard)")
	f.StringVar(&o.Token, "token", "", "API key to send (default: $SHARDSTOCK_TOKEN)")
	f.StringVar(&o.Scenario, "scenario", bench.DefaultScenario, "read, reserve, hot, mixed or report")
	f.DurationVar(&o.Duration, "duration", bench.DefaultDuration, "measured duration")
	f.DurationVar(&o.Warmup, "warmup", 0, "load before measuring (not recorded)")
	f.IntVar(&o.Concurrency, "concurrency", bench.DefaultConcurrency, "concurrent clients")
	f.IntVar(&o.Products, "products", bench.DefaultProducts, "catalogue size")
	f.StringVar(&o.Prefix, "prefix", "BENCH-", "SKU prefix of the bench catalogue")
	f.StringVar(&o.Settle, "settle", "commit", "what follows each reservation: commit or release")
	f.DurationVar(&o.RequestTimeout, "timeout", 10*time.Second, "per-request timeout")
	f.BoolVar(&o.SkipSetup, "skip-setup", false, "trust that the catalogue exists")
	f.Uint64Var(&o.Seed, "seed", 0, "random seed (0: from the clock)")
	f.BoolVar(&o.JSON, "json", false, "print the report as JSON")
	return cmd
}
