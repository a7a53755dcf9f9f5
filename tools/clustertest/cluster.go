// Package clustertest builds throwaway shardstock clusters for integration tests: shard and
// meta databases on real MySQL/MariaDB (through tools/testdb), gateways over HTTP, and the
// invariant check every concurrent test ends with.
package clustertest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/shardstock/shardstock/configs"
	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/gateway/auth"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/migrate"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
	"github.com/shardstock/shardstock/tools/mysqlproc"
	"github.com/shardstock/shardstock/tools/testdb"
)

// Cluster is an initialised cluster: meta store and shards with topology version 1, and an API
// key with every scope that its gateways' clients send.
type Cluster struct {
	MetaDSN    string
	Shards     []migrate.ShardSpec
	Partitions int
	// AdminToken is an API key with every scope (read, write, reserve, admin).
	AdminToken string
}

// Options shape a cluster.
type Options struct {
	Shards     int // default 3
	Partitions int // default 64 (small keeps tests fast; routing is the same code)
	// ShardDSNs, when set, are used instead of fresh databases on the shared test server (e.g.
	// databases on dedicated server processes that a test stops).
	ShardDSNs []string
	// MetaDSN, when set, is the metadata store instead of a fresh database on the shared test
	// server (e.g. a database on a dedicated server process that a test freezes).
	MetaDSN string
}

// New creates the databases and runs `init` logic over them.
func New(t testing.TB, o Options) *Cluster {
	t.Helper()
	if o.Shards == 0 {
		o.Shards = 3
	}
	if o.Partitions == 0 {
		o.Partitions = 64
	}
	srv := testdb.Server(t)
	c := &Cluster{MetaDSN: o.MetaDSN, Partitions: o.Partitions}
	if c.MetaDSN == "" {
		c.MetaDSN = srv.NewDatabase(t, "meta")
	}
	for i := 0; i < o.Shards; i++ {
		dsn := ""
		if i < len(o.ShardDSNs) {
			dsn = o.ShardDSNs[i]
		} else {
			dsn = srv.NewDatabase(t, fmt.Sprintf("shard%d", i+1))
		}
		c.Shards = append(c.Shards, migrate.ShardSpec{Name: fmt.Sprintf("shard-%d", i+1), DSN: dsn})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := migrate.InitCluster(ctx, c.MetaDSN, o.Partitions, c.Shards); err != nil {
		t.Fatalf("init cluster: %v", err)
	}
	c.AdminToken = c.IssueKey(t, auth.Spec{Name: "clustertest admin", Scopes: auth.NewScopeSet(auth.AllScopes...)}).Token
	return c
}

// IssueKey creates an API key in the cluster's metadata store (name "test" unless spec names
// one).
func (c *Cluster) IssueKey(t testing.TB, spec auth.Spec) auth.Issued {
	t.Helper()
	if spec.Name == "" {
		spec.Name = "test"
	}
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	k, err := auth.Issue(context.Background(), meta, spec)
	if err != nil {
		t.Fatalf("issue API key: %v", err)
	}
	return k
}

// Meta opens the cluster's metadata store (closed at the end of the test).
func (c *Cluster) Meta(t testing.TB) *shard.Meta {
	t.Helper()
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	return meta
}

// KeyHash is the stored hash of Idempotency-Key key sent with the cluster's admin key (keys are
// scoped by the API key that sends them; see gateway.KeyHash).
func (c *Cluster) KeyHash(t testing.TB, key string) []byte {
	t.Helper()
	id, _, err := auth.ParseToken(c.AdminToken)
	if err != nil {
		t.Fatalf("admin token: %v", err)
	}
	return gateway.KeyHash(id, key)
}

// NewClient returns a client for the gateway at base that sends the cluster's admin key.
func (c *Cluster) NewClient(t testing.TB, base string) *Client {
	cl := NewClient(t, base)
	cl.Token = c.AdminToken
	return cl
}

// Config returns a gateway configuration for the cluster with test-friendly timings.
func (c *Cluster) Config() configs.Config {
	cfg := configs.Default()
	cfg.MetaDSN = c.MetaDSN
	cfg.Listen = "127.0.0.1:0"
	cfg.Reservation.SweepInterval = 100 * time.Millisecond
	// Short enough for crash tests, longer than any saga takes here even on a loaded 2-core
	// machine (the production default is above the request timeout).
	cfg.Reservation.RecoveryGrace = 4 * time.Second
	// Reports wait for slow shards on a loaded test machine; tests of the timeout set their own.
	cfg.Reports.ShardTimeout = 15 * time.Second
	cfg.Topology.PollInterval = 200 * time.Millisecond
	// Above the production default (500ms): a test machine under load must not open the
	// metadata-store breaker by a slow answer (the frozen-store test sets the default back).
	cfg.Meta.Timeout = 2 * time.Second
	// Webhook receivers in tests listen on loopback, which the egress policy refuses by default.
	cfg.Webhooks.AllowCIDRs = []string{"127.0.0.0/8"}
	return cfg
}

// Gateway is a running gateway behind an httptest server.
type Gateway struct {
	*Client
	Server *gateway.Server
	HTTP   *httptest.Server
}

// Close stops the HTTP server, the workers and the pools.
func (g *Gateway) Close() {
	g.HTTP.Close()
	g.Server.Close()
}

// StartGateway starts a gateway with its workers; it is closed at the end of the test.
// mutate, if not nil, adjusts the configuration first.
func (c *Cluster) StartGateway(t testing.TB, opts gateway.Options, mutate func(*configs.Config)) *Gateway {
	t.Helper()
	cfg := c.Config()
	if mutate != nil {
		mutate(&cfg)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if testing.Verbose() {
			opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := gateway.New(ctx, cfg, opts)
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	srv.Start()
	hs := httptest.NewServer(srv.Handler())
	g := &Gateway{Client: c.NewClient(t, hs.URL), Server: srv, HTTP: hs}
	t.Cleanup(g.Close)
	return g
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// Stores opens a store per shard (closed at the end of the test).
func (c *Cluster) Stores(t testing.TB) map[string]*shard.Store {
	t.Helper()
	out := map[string]*shard.Store{}
	for _, s := range c.Shards {
		st, err := shard.Open(s.Name, s.DSN, shard.PoolOptions{MaxOpen: 8})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[s.Name] = st
	}
	return out
}

// Topology loads the current topology from the meta store.
func (c *Cluster) Topology(t testing.TB) shard.Topology {
	t.Helper()
	meta, err := shard.OpenMeta(c.MetaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	top, err := meta.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return top
}

// Verify runs the invariant checker and returns its report.
func (c *Cluster) Verify(t testing.TB, quiescent bool) migrate.VerifyReport {
	t.Helper()
	rep, err := migrate.VerifyCluster(context.Background(), c.MetaDSN, migrate.VerifyOptions{Quiescent: quiescent})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// RequireInvariants fails the test with every violation found.
func (c *Cluster) RequireInvariants(t testing.TB, quiescent bool) migrate.VerifyReport {
	t.Helper()
	rep := c.Verify(t, quiescent)
	for _, v := range rep.Violations {
		t.Errorf("invariant violated: %s", v)
	}
	if !rep.Clean() {
		t.FailNow()
	}
	return rep
}

// EventuallyInvariants polls the invariant checker until it is clean or the timeout passes.
func (c *Cluster) EventuallyInvariants(t testing.TB, quiescent bool, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rep := c.Verify(t, quiescent)
		if rep.Clean() {
			return
		}
		if time.Now().After(deadline) {
			for _, v := range rep.Violations {
				t.Errorf("invariant still violated after %s: %s", timeout, v)
			}
			t.FailNow()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// SKUsPerShard returns, for each shard in order, a SKU starting with prefix that it owns.
func (c *Cluster) SKUsPerShard(t testing.TB, prefix string) []string {
	t.Helper()
	top := c.Topology(t)
	out := make([]string, len(c.Shards))
	found := 0
	for i := 0; found < len(c.Shards) && i < 100000; i++ {
		sku := fmt.Sprintf("%s-%d", prefix, i)
		owner, _ := top.Map.Owner(router.Partition(sku, top.Partitions))
		for j, s := range c.Shards {
			if s.Name == owner && out[j] == "" {
				out[j] = sku
				found++
			}
		}
	}
	if found < len(c.Shards) {
		t.Fatalf("could not find SKUs on every shard")
	}
	return out
}

// ShardStore returns a store named name over a fresh, migrated shard database that owns the
// given partitions (its fences say owned), for tests of one shard's SQL. Closed at cleanup.
func ShardStore(t testing.TB, name string, owned ...int) *shard.Store {
	t.Helper()
	ctx := context.Background()
	dsn := testdb.Server(t).NewDatabase(t, name)
	if err := shard.MigrateUp(ctx, dsn, shard.StoreSchema); err != nil {
		t.Fatal(err)
	}
	st, err := shard.Open(name, dsn, shard.PoolOptions{MaxOpen: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if len(owned) > 0 {
		if err := st.Mover().SetFences(ctx, inventory.FenceOwned, owned); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// MetaStore migrates the metadata schema on dsn and opens it, for tests of the metadata
// store's SQL. Closed at cleanup.
func MetaStore(t testing.TB, dsn string) *shard.Meta {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := shard.MigrateUp(ctx, dsn, shard.MetaSchema); err != nil {
		t.Fatalf("migrate meta: %v", err)
	}
	meta, err := shard.OpenMeta(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	return meta
}

// NewOnServers creates a cluster whose shards each run on their own throwaway server process,
// for tests that stop, slow down or resize one shard. The servers are returned in shard order.
func NewOnServers(t testing.TB, shards int, o Options) (*Cluster, []*mysqlproc.Server) {
	t.Helper()
	servers := make([]*mysqlproc.Server, shards)
	o.Shards, o.ShardDSNs = shards, make([]string, shards)
	for i := range servers {
		servers[i] = testdb.StartServer(t)
		o.ShardDSNs[i] = servers[i].DSN("shardstock")
	}
	return New(t, o), servers
}
