package migrate

import (
	"context"
	"fmt"
	"sort"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// PlannedMove is one partition to move, with its current row count.
type PlannedMove struct {
	Partition int    `json:"partition"`
	From      string `json:"from"`
	To        string `json:"to"`
	Rows      int64  `json:"rows"`
}

// Plan is what a reshard would do: the moves and the balance before and after.
type Plan struct {
	FromVersion   int64          `json:"from_version"`
	Partitions    int            `json:"partitions"`
	Shards        []string       `json:"shards"`
	Moves         []PlannedMove  `json:"moves"`
	RowsToCopy    int64          `json:"rows_to_copy"`
	MovedFraction float64        `json:"moved_fraction"`
	IdealFraction float64        `json:"ideal_fraction"`
	Before        BalanceFigures `json:"before"`
	After         BalanceFigures `json:"after"`
	target        router.Map
}

// BalanceFigures are partition and row balance of one map.
type BalanceFigures struct {
	Partitions router.Balance `json:"partitions"`
	Rows       router.Balance `json:"rows"`
}

// Plan computes the moves that turn the current map into the one the ring proposes for the
// shard set with adds and without removes. It changes nothing.
func (r *Resharder) Plan(ctx context.Context, add []ShardSpec, remove []string) (Plan, error) {
	top, err := r.meta.Load(ctx)
	if err != nil {
		return Plan{}, err
	}
	current := map[string]bool{}
	for _, o := range top.Map.Owners {
		current[o] = true
	}
	next := map[string]bool{}
	for s := range current {
		next[s] = true
	}
	for _, a := range add {
		if err := router.ValidateShardName(a.Name); err != nil {
			return Plan{}, err
		}
		if info, ok := top.Shards[a.Name]; ok && info.State != inventory.ShardRemoved || current[a.Name] {
			return Plan{}, fmt.Errorf("shard %q already exists", a.Name)
		}
		if next[a.Name] {
			return Plan{}, fmt.Errorf("shard %q is added twice", a.Name)
		}
		next[a.Name] = true
	}
	for _, name := range remove {
		if !current[name] {
			return Plan{}, fmt.Errorf("shard %q is not an active shard of the cluster", name)
		}
		delete(next, name)
	}
	if len(next) == 0 {
		return Plan{}, fmt.Errorf("cannot remove every shard")
	}
	if len(add) == 0 && len(remove) == 0 {
		return Plan{}, fmt.Errorf("nothing to do: give --add NAME=DSN or --remove NAME")
	}
	shards := make([]string, 0, len(next))
	for s := range next {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	target, err := router.ProposeChange(top.Map, shards, router.RingOptions{})
	if err != nil {
		return Plan{}, err
	}
	moves, err := router.Diff(top.Map, target)
	if err != nil {
		return Plan{}, err
	}
	rows, err := r.partitionRows(ctx, top)
	if err != nil {
		return Plan{}, err
	}
	p := Plan{FromVersion: top.Version, Partitions: top.Partitions, Shards: shards, target: target,
		Before: BalanceFigures{router.PartitionBalance(top.Map), router.RowBalance(top.Map, rows)},
		After:  BalanceFigures{router.PartitionBalance(target), router.RowBalance(target, rows)}}
	for _, m := range moves {
		p.Moves = append(p.Moves, PlannedMove{m.Partition, m.From, m.To, rows[m.Partition]})
		p.RowsToCopy += rows[m.Partition]
	}
	p.MovedFraction = float64(len(moves)) / float64(top.Partitions)
	// Ideal: adding k shards to n moves k/(n+k) of the partitions; removing moves what the removed owned.
	if len(add) > 0 && len(remove) == 0 {
		p.IdealFraction = float64(len(add)) / float64(len(current)+len(add))
	} else {
		owned := 0
		for _, name := range remove {
			for _, o := range top.Map.Owners {
				if o == name {
					owned++
				}
			}
		}
		p.IdealFraction = float64(owned) / float64(top.Partitions)
	}
	return p, nil
}

// partitionRows counts the product rows of each partition on its owner.
func (r *Resharder) partitionRows(ctx context.Context, top shard.Topology) (map[int]int64, error) {
	out := map[int]int64{}
	for _, name := range top.Map.Shards() {
		st, err := r.store(name)
		if err != nil {
			return nil, err
		}
		counts, err := st.Mover().ProductCounts(ctx)
		if err != nil {
			return nil, fmt.Errorf("shard %s: %w", name, err)
		}
		for p, n := range counts {
			if owner, _ := top.Map.Owner(p); owner == name {
				out[p] = n
			}
		}
	}
	return out, nil
}
