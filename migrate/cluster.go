package migrate

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// ShardSpec names a shard and its DSN. In a job's persisted spec only the name is kept (the
// DSN lives in the shard registry); specs written before carry the DSN too.
type ShardSpec struct {
	Name string `json:"name"`
	DSN  string `json:"dsn,omitempty"`
}

// InitCluster creates a cluster: meta schema, every shard's schema, the initial partition map
// (proposed by the consistent-hash ring), each shard's fences for the partitions it owns, and
// topology version 1. It refuses to run over an existing topology.
func InitCluster(ctx context.Context, metaDSN string, partitions int, shards []ShardSpec) (shard.Topology, error) {
	names := make([]string, len(shards))
	for i, s := range shards {
		names[i] = s.Name
	}
	if err := router.ValidateLayout(names, partitions); err != nil {
		return shard.Topology{}, err
	}
	if err := shard.EnsureDatabase(ctx, metaDSN); err != nil {
		return shard.Topology{}, fmt.Errorf("meta store: %w", err)
	}
	if err := shard.MigrateUp(ctx, metaDSN, shard.MetaSchema); err != nil {
		return shard.Topology{}, fmt.Errorf("meta store migration: %w", err)
	}
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return shard.Topology{}, err
	}
	defer meta.Close()
	if _, err := meta.CurrentVersion(ctx); !errors.Is(err, shard.ErrNoTopology) {
		if err == nil {
			return shard.Topology{}, shard.ErrTopologyExists
		}
		return shard.Topology{}, err
	}
	mp, err := router.Propose(names, partitions, router.RingOptions{})
	if err != nil {
		return shard.Topology{}, err
	}
	results := ForEach(ctx, shards, func(ctx context.Context, s ShardSpec) error {
		if err := shard.EnsureDatabase(ctx, s.DSN); err != nil {
			return err
		}
		if err := shard.MigrateUp(ctx, s.DSN, shard.StoreSchema); err != nil {
			return err
		}
		st, err := shard.Open(s.Name, s.DSN, shard.PoolOptions{MaxOpen: 4})
		if err != nil {
			return err
		}
		defer st.Close()
		var owned []int
		for p, o := range mp.Owners {
			if o == s.Name {
				owned = append(owned, p)
			}
		}
		return st.Mover().SetFences(ctx, inventory.FenceOwned, owned)
	})
	if err := JoinResults(results); err != nil {
		return shard.Topology{}, err
	}
	infos := make([]shard.Info, len(shards))
	for i, s := range shards {
		infos[i] = shard.Info{Name: s.Name, DSN: s.DSN, State: inventory.ShardActive}
	}
	if err := meta.CreateTopology(ctx, infos, mp); err != nil {
		return shard.Topology{}, err
	}
	return meta.Load(ctx)
}

// Result is the outcome of one target of a parallel operation.
type Result struct {
	Target string
	Err    error
}

// ForEach runs fn for every shard in parallel and reports each one, sorted by name.
func ForEach(ctx context.Context, shards []ShardSpec, fn func(ctx context.Context, s ShardSpec) error) []Result {
	out := make([]Result, len(shards))
	var wg sync.WaitGroup
	for i, s := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = Result{Target: s.Name, Err: fn(ctx, s)}
		}()
	}
	wg.Wait()
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

// JoinResults returns the failures of a parallel operation as one error (nil when all passed).
func JoinResults(rs []Result) error {
	var errs []error
	for _, r := range rs {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Target, r.Err))
		}
	}
	return errors.Join(errs...)
}

// Shards lists every shard the metadata store knows, for cluster-wide migrations.
func Shards(ctx context.Context, metaDSN string) ([]ShardSpec, error) {
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return nil, err
	}
	defer meta.Close()
	t, err := meta.Load(ctx)
	if err != nil {
		return nil, err
	}
	var out []ShardSpec
	for _, s := range t.Shards {
		if s.State != inventory.ShardRemoved {
			out = append(out, ShardSpec{Name: s.Name, DSN: s.DSN})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}
