package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/demo"
	"github.com/shardstock/shardstock/tools/devcluster"
	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// Database names `shardstock dev` uses on its servers.
const (
	devMetaDatabase  = "shardstock_meta"
	devShardDatabase = "shardstock"
	devConfigFile    = "shardstock.yaml"
)

// devOptions are the flags of `shardstock dev`.
type devOptions struct {
	shards int
	listen string
	dir    string
	fresh  bool
	demo   bool
}

func (a *app) devCommand() *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev [--shards N] [--listen ADDR] [--dir DIR] [--fresh] [--demo]",
		Short: "Run a zero-setup local cluster and gateway in the foreground",
		Long: `Start a local cluster: one MariaDB/MySQL server for the metadata store and N for the
shards, from the mariadbd/mysqld found on PATH, each with its data under DIR and its own
loopback port. dev applies the schema migrations, creates the topology on the first run, writes
DIR/shardstock.yaml (usable with --config by every other subcommand) and runs the gateway on
ADDR until SIGINT/SIGTERM, then stops every process it started.

On the first run dev creates an API key with every scope (read, write, reserve, admin), writes
it to DIR/admin.token (mode 0600) and prints it; a later run reuses it while it is valid. Send
it as "Authorization: Bearer $(cat DIR/admin.token)". /metrics and /debug/pprof/ are served
without a key on a second loopback address (admin_listen in DIR/shardstock.yaml), for
Prometheus.

A second run reuses DIR (same ports, same data) unless --fresh wipes it. --demo loads a demo
catalogue (about 300 products) unless it is already there.`,
		Example: `  shardstock dev --demo
  shardstock dev --shards 2 --listen 127.0.0.1:9090 --dir /tmp/ss --fresh`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.shards < 1 || o.shards > 64 {
				return usagef("--shards must be 1-64, got %d", o.shards)
			}
			if _, _, err := net.SplitHostPort(o.listen); err != nil {
				return usagef("--listen %q: %v", o.listen, err)
			}
			if o.dir == "" {
				return usagef("--dir must not be empty")
			}
			return a.runDev(cmd.Context(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.shards, "shards", 4, "number of shard servers")
	f.StringVar(&o.listen, "listen", "127.0.0.1:8080", "HTTP address of the gateway")
	f.StringVar(&o.dir, "dir", "./.shardstock-dev", "directory for the servers' data, their logs and shardstock.yaml")
	f.BoolVar(&o.fresh, "fresh", false, "wipe --dir first and start an empty cluster")
	f.BoolVar(&o.demo, "demo", false, "load the demo catalogue unless it is already loaded")
	return cmd
}

// runDev starts the cluster, prepares it, serves until ctx ends and stops everything.
func (a *app) runDev(ctx context.Context, o devOptions) (err error) {
	begin := time.Now()
	log, err := a.logger(configs.Log{Level: "info"}, "text")
	if err != nil {
		return err
	}
	if _, err := mysqlproc.FindBinary(); err != nil {
		return noServerBinary(err)
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	// Take the gateway's address first: a busy port fails before any server starts.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("gateway: %w (pick another address with --listen)", err)
	}
	defer ln.Close()
	fmt.Fprintf(a.stderr, "starting %d shard servers and a metadata server in %s ...\n", o.shards, dir)
	cluster, err := devcluster.Start(ctx, devcluster.Options{Dir: dir, Shards: o.shards, Fresh: o.fresh, Log: a.stderr})
	if err != nil {
		if errors.Is(err, mysqlproc.ErrNoBinary) {
			return noServerBinary(err)
		}
		return fmt.Errorf("start the local cluster: %w", err)
	}
	defer func() {
		fmt.Fprintln(a.stderr, "stopping the local cluster ...")
		if stopErr := cluster.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop the local cluster: %w", stopErr))
		} else {
			fmt.Fprintln(a.stderr, "every server stopped")
		}
	}()

	metaDSN := cluster.Meta.DSN(devMetaDatabase)
	created, err := prepareDevCluster(ctx, cluster, metaDSN)
	if err != nil {
		return err
	}
	token, newToken, err := devAdminKey(ctx, metaDSN, dir)
	if err != nil {
		return fmt.Errorf("admin key: %w", err)
	}

	configPath := filepath.Join(dir, devConfigFile)
	cfg := configs.Default()
	cfg.MetaDSN = metaDSN
	cfg.Listen = ln.Addr().String()
	if cfg.AdminListen, err = devAdminListen(configPath); err != nil {
		return err
	}
	cfg.Log.Format = "text"
	// A local cluster's webhook receivers run on this machine: allow loopback (the banner says so).
	cfg.Webhooks.AllowLoopback = true
	if err := configs.Write(configPath, cfg); err != nil {
		return fmt.Errorf("write %s: %w", configPath, err)
	}
	// The gateway is shut down (serveDev returns) before the deferred cluster stop.
	return a.serveDev(ctx, cfg, ln, log, begin, devBanner{
		baseURL: "http://" + ln.Addr().String(), configPath: configPath, cluster: cluster, created: created, demo: o.demo,
		token: token, newToken: newToken, tokenPath: filepath.Join(dir, devTokenFile), adminURL: "http://" + cfg.AdminListen,
	})
}

// serveDev runs the gateway of the local cluster on ln, loads the demo catalogue when the banner
// says so, prints the banner (with the time since begin) and serves until ctx ends; it returns
// once the gateway is shut down.
func (a *app) serveDev(ctx context.Context, cfg configs.Config, ln net.Listener, log *slog.Logger, begin time.Time, banner devBanner) (err error) {
	srv, err := gateway.New(ctx, cfg, gateway.Options{Logger: log})
	if err != nil {
		return fmt.Errorf("start gateway: %w", err)
	}
	defer srv.Close()
	stopAdmin, err := serveAdmin(cfg.AdminListen, srv.AdminHandler(), log)
	if err != nil {
		return err
	}
	defer stopAdmin()
	serveCtx, stopServe := context.WithCancel(ctx)
	defer stopServe()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	// Whatever happens next, the gateway is shut down before returning.
	defer func() {
		stopServe()
		if serveErr := <-served; serveErr != nil {
			err = errors.Join(err, fmt.Errorf("gateway: %w", serveErr))
		}
	}()

	if banner.demo {
		if err := loadDemo(ctx, banner.baseURL, banner.token, a.stdout); err != nil {
			if ctx.Err() != nil {
				return nil // interrupted while loading: a normal shutdown
			}
			return err
		}
	}
	banner.took = time.Since(begin)
	a.printDevBanner(banner)

	select {
	case <-ctx.Done():
		fmt.Fprintln(a.stderr, "\nshutting down (Ctrl-C again to force) ...")
		return nil
	case err := <-served:
		served <- err // for the deferred shutdown above
		if err != nil {
			return fmt.Errorf("gateway stopped: %w", err)
		}
		return errors.New("gateway stopped unexpectedly")
	}
}

// noServerBinary explains what to install when no mariadbd/mysqld is found; err (from
// mysqlproc) already names the install commands for Debian/Ubuntu and macOS.
func noServerBinary(err error) error {
	return fmt.Errorf("shardstock dev needs a MariaDB or MySQL server binary: %w\n"+
		"Without installing one, run MySQL with docker compose up and use `shardstock init` and "+
		"`shardstock serve --config FILE` against it instead of dev", err)
}

// prepareDevCluster migrates the cluster and creates its topology on the first run; on later
// runs it migrates the metadata store and every shard it names. It reports whether it created
// the topology.
func prepareDevCluster(ctx context.Context, cluster *devcluster.Cluster, metaDSN string) (bool, error) {
	if err := shard.EnsureDatabase(ctx, metaDSN); err != nil {
		return false, fmt.Errorf("meta store: %w", err)
	}
	if err := shard.MigrateUp(ctx, metaDSN, shard.MetaSchema); err != nil {
		return false, fmt.Errorf("meta store migration: %w", err)
	}
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return false, err
	}
	_, err = meta.CurrentVersion(ctx)
	meta.Close()
	switch {
	case errors.Is(err, shard.ErrNoTopology):
		specs := make([]migrate.ShardSpec, len(cluster.Shards))
		for i, s := range cluster.Shards {
			specs[i] = migrate.ShardSpec{Name: s.Name, DSN: s.Server.DSN(devShardDatabase)}
		}
		if _, err := migrate.InitCluster(ctx, metaDSN, router.DefaultPartitions, specs); err != nil {
			return false, fmt.Errorf("create the topology: %w", err)
		}
		return true, nil
	case err != nil:
		return false, err
	}
	shards, err := migrate.Shards(ctx, metaDSN)
	if err != nil {
		return false, err
	}
	results := migrate.ForEach(ctx, shards, func(ctx context.Context, s migrate.ShardSpec) error {
		if err := shard.EnsureDatabase(ctx, s.DSN); err != nil {
			return err
		}
		return shard.MigrateUp(ctx, s.DSN, shard.StoreSchema)
	})
	if err := migrate.JoinResults(results); err != nil {
		return false, fmt.Errorf("shard migration: %w", err)
	}
	return false, nil
}

// loadDemo loads the demo catalogue unless its first product exists.
func loadDemo(ctx context.Context, baseURL, token string, out io.Writer) error {
	loaded, err := demo.Loaded(ctx, baseURL, token)
	if err != nil {
		return fmt.Errorf("demo: check for the catalogue: %w", err)
	}
	if loaded {
		fmt.Fprintf(out, "demo: catalogue already loaded (%s exists); skipping\n", demo.FirstSKU())
		return nil
	}
	return demo.Load(ctx, baseURL, token, out)
}

type devBanner struct {
	baseURL    string
	configPath string
	cluster    *devcluster.Cluster
	created    bool
	demo       bool
	took       time.Duration
	token      string // the admin key
	newToken   bool   // created by this run
	tokenPath  string
	adminURL   string // the admin listener: /metrics without a key
}

// printDevBanner tells the developer where everything is and how to try it.
func (a *app) printDevBanner(b devBanner) {
	w := a.stdout
	state := "reused the existing cluster"
	if b.created {
		state = "created a new cluster"
	}
	keyState := "reused"
	if b.newToken {
		keyState = "created"
	}
	cfgPath, tokenPath := relPath(b.configPath), relPath(b.tokenPath)
	fmt.Fprintf(w, "\nshardstock dev is ready in %s (%s)\n\n", b.took.Round(100*time.Millisecond), state)
	fmt.Fprintf(w, "  gateway   %s\n", b.baseURL)
	fmt.Fprintf(w, "  metrics   %s/metrics  (admin listener, no key; pprof at /debug/pprof/)\n", b.adminURL)
	fmt.Fprintf(w, "  config    %s\n", cfgPath)
	fmt.Fprintf(w, "  api key   %s  (%s; every scope; in %s, mode 0600)\n", b.token, keyState, tokenPath)
	fmt.Fprintf(w, "  meta      %s  (log %s)\n", b.cluster.Meta.Addr, b.cluster.Meta.LogPath())
	for _, s := range b.cluster.Shards {
		fmt.Fprintf(w, "  %-8s  %s  (log %s)\n", s.Name, s.Server.Addr, s.Server.LogPath())
	}
	sku := "ABC-123"
	if b.demo {
		sku = demo.FirstSKU()
	}
	fmt.Fprintf(w, "\n  webhooks  loopback receivers allowed (webhooks.allow_loopback: true, a local cluster);\n")
	fmt.Fprintf(w, "            other internal addresses are refused as in production\n")
	auth := `-H "Authorization: Bearer $T"`
	fmt.Fprintf(w, "\ntry (every /v1 request needs the key):\n")
	fmt.Fprintf(w, "  T=$(cat %s)\n", tokenPath)
	fmt.Fprintf(w, "  curl -s %s/readyz\n", b.baseURL)
	if !b.demo {
		fmt.Fprintf(w, "  curl -s %s -X PUT %s/v1/products/%s -d '{\"name\":\"Demo widget\",\"category\":\"widgets\",\"scale\":0,\"low_stock_threshold\":5}'\n", auth, b.baseURL, sku)
		fmt.Fprintf(w, "  curl -s %s -X POST %s/v1/products/%s/adjustments -d '{\"delta\":20,\"reason\":\"receive\"}'\n", auth, b.baseURL, sku)
	}
	fmt.Fprintf(w, "  curl -s %s %s/v1/products/%s\n", auth, b.baseURL, sku)
	fmt.Fprintf(w, "  curl -s %s -X POST %s/v1/reservations -H 'Idempotency-Key: try-1' -d '{\"order_id\":\"o-1\",\"lines\":[{\"sku\":\"%s\",\"quantity\":1}]}'\n", auth, b.baseURL, sku)
	fmt.Fprintf(w, "  curl -s %s %s/v1/products/%s/history\n", auth, b.baseURL, sku)
	fmt.Fprintf(w, "  curl -s %s %s/v1/topology\n", auth, b.baseURL)
	fmt.Fprintf(w, "  shardstock topology show --config %s\n", cfgPath)
	fmt.Fprintf(w, "\nPress Ctrl-C to stop the gateway and every server.\n")
}

// relPath returns path relative to the working directory when it is below it.
func relPath(path string) string {
	cwd, _ := os.Getwd()
	if rel, err := filepath.Rel(cwd, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}
