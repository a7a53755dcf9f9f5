package migrate

import (
	"context"
	"errors"
	"sort"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// CleanupResult reports what Cleanup deleted.
type CleanupResult struct {
	Shard      string `json:"shard"`
	Partitions int    `json:"partitions"`
	Rows       int64  `json:"rows"`
}

// Cleanup deletes, in chunks, the rows that cutovers left behind on shards that no longer own
// their partitions (fence moved_out). The fences stay, so stale writes remain refused.
func (r *Resharder) Cleanup(ctx context.Context) ([]CleanupResult, error) {
	if _, err := r.meta.Jobs().ActiveJobID(ctx); err == nil {
		return nil, errors.New("a resharding job is still active; finish it first")
	} else if !errors.Is(err, shard.ErrNoJob) {
		return nil, err
	}
	top, err := r.meta.Load(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(top.Shards))
	for n := range top.Shards {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []CleanupResult
	for _, name := range names {
		st, err := r.store(name)
		if err != nil {
			return out, err
		}
		fences, err := st.Mover().Fences(ctx)
		if err != nil {
			if top.Shards[name].State == inventory.ShardRemoved {
				continue // a removed shard may be gone already
			}
			return out, err
		}
		res := CleanupResult{Shard: name}
		for p, state := range fences {
			if owner, _ := top.Map.Owner(p); state != inventory.FenceMovedOut || owner == name {
				continue
			}
			n, err := st.Mover().PurgePartition(ctx, p, r.opts.ChunkRows)
			res.Rows += n
			if err != nil {
				return append(out, res), err
			}
			res.Partitions++
		}
		out = append(out, res)
	}
	return out, nil
}
