// Package devcluster runs the local cluster behind `shardstock dev`: one
// metadata server and N shard servers, each a mysqlproc process with its
// data under one directory, on ports that stay the same across runs.
package devcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/shardstock/shardstock/tools/mysqlproc"
)

// Errors callers can test with errors.Is.
var (
	// ErrShardCountChanged means Options.Shards differs from the cluster
	// already in Options.Dir.
	ErrShardCountChanged = errors.New("shard count differs from existing cluster")
	// ErrPortBusy means a port the cluster remembers is taken.
	ErrPortBusy = errors.New("remembered port is busy")
)

// stateVersion is the cluster.json format written by this package.
const stateVersion = 1

// Options configures Start.
type Options struct {
	// Dir holds cluster.json and one data directory per server.
	Dir string
	// Shards is the number of shard servers; it must match an existing
	// cluster in Dir unless Fresh is set.
	Shards int
	// Fresh wipes Dir before starting.
	Fresh bool
	// Log receives progress messages; nil discards them.
	Log io.Writer
}

// Cluster is a running local cluster.
type Cluster struct {
	// Meta is the metadata server.
	Meta *mysqlproc.Server
	// Shards are the shard servers, shard-1 first.
	Shards []ShardServer
	// Reused is true when an existing Dir was started again.
	Reused bool

	log *slog.Logger
}

// ShardServer is one shard's server.
type ShardServer struct {
	// Name is shard-1, shard-2, ...
	Name string
	// Server is the running process.
	Server *mysqlproc.Server
}

// Start starts (or restarts) the cluster in opts.Dir, all servers in
// parallel, and returns once every server accepts connections. If any server
// fails, the others are stopped again.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Dir == "" {
		return nil, errors.New("devcluster: Options.Dir is required")
	}
	if opts.Shards < 1 {
		return nil, fmt.Errorf("devcluster: need at least one shard, got %d", opts.Shards)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if opts.Log != nil {
		logger = slog.New(slog.NewTextHandler(opts.Log, nil))
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("cluster dir: %w", err)
	}
	if opts.Fresh {
		logger.Info("wiping cluster dir", "dir", dir)
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("wipe %s: %w", dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cluster dir: %w", err)
	}

	st, reused, err := prepareState(dir, opts.Shards)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Reused: reused, log: logger}
	servers, err := startServers(ctx, dir, st, logger)
	if err != nil {
		return nil, err
	}
	c.Meta = servers[0]
	for i, shard := range st.Shards {
		c.Shards = append(c.Shards, ShardServer{Name: shard.Name, Server: servers[i+1]})
	}
	logger.Info("cluster started", "dir", dir, "shards", len(c.Shards), "reused", reused)
	return c, nil
}

// prepareState loads cluster.json, checking it matches the request and that
// its ports are free, or allocates ports for a new cluster and saves them.
func prepareState(dir string, shards int) (*state, bool, error) {
	st, err := loadState(dir)
	if err != nil {
		return nil, false, err
	}
	if st != nil {
		if len(st.Shards) != shards {
			return nil, false, fmt.Errorf("%w: %s has %d shards, %d requested; start with --fresh to wipe it and create %d",
				ErrShardCountChanged, dir, len(st.Shards), shards, shards)
		}
		for _, srv := range st.servers() {
			if err := checkPortFree(dir, srv); err != nil {
				return nil, false, err
			}
		}
		return st, true, nil
	}
	ports, err := allocatePorts(shards + 1)
	if err != nil {
		return nil, false, err
	}
	st = &state{Version: stateVersion, Meta: serverState{Name: "meta", Port: ports[0]}}
	for i := range shards {
		st.Shards = append(st.Shards, serverState{Name: "shard-" + strconv.Itoa(i+1), Port: ports[i+1]})
	}
	if err := st.save(dir); err != nil {
		return nil, false, err
	}
	return st, false, nil
}

// startServers starts meta and the shards in parallel, in st.servers()
// order; on failure it stops whatever did start.
func startServers(ctx context.Context, dir string, st *state, logger *slog.Logger) ([]*mysqlproc.Server, error) {
	specs := st.servers()
	servers := make([]*mysqlproc.Server, len(specs))
	g, gctx := errgroup.WithContext(ctx)
	for i, spec := range specs {
		g.Go(func() error {
			begin := time.Now()
			srv, err := mysqlproc.Start(gctx, mysqlproc.Options{
				DataDir: filepath.Join(dir, spec.Name),
				Port:    spec.Port,
				LogPath: filepath.Join(dir, spec.Name+".log"),
			})
			if err != nil {
				return fmt.Errorf("start %s on port %d: %w", spec.Name, spec.Port, err)
			}
			servers[i] = srv
			logger.Info("server started", "server", spec.Name, "addr", srv.Addr, "took", time.Since(begin).Round(time.Millisecond))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		stopAll(servers, specs, logger)
		return nil, err
	}
	return servers, nil
}

// Stop stops every server in parallel and returns their errors joined.
func (c *Cluster) Stop() error {
	servers := []*mysqlproc.Server{c.Meta}
	specs := []serverState{{Name: "meta"}}
	for _, sh := range c.Shards {
		servers = append(servers, sh.Server)
		specs = append(specs, serverState{Name: sh.Name})
	}
	err := stopAll(servers, specs, c.log)
	if err == nil {
		c.log.Info("cluster stopped")
	}
	return err
}

// stopAll stops the non-nil servers in parallel.
func stopAll(servers []*mysqlproc.Server, specs []serverState, logger *slog.Logger) error {
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		if srv == nil {
			continue
		}
		wg.Go(func() {
			if err := srv.Stop(); err != nil {
				errs[i] = fmt.Errorf("stop %s: %w", specs[i].Name, err)
				logger.Error("stop failed", "server", specs[i].Name, "err", err)
				return
			}
			logger.Info("server stopped", "server", specs[i].Name, "addr", srv.Addr)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
