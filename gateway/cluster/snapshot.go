package cluster

import (
	"fmt"
	"sync"

	"github.com/shardstock/shardstock/shard"
)

// Snapshot is one immutable topology version with a store per shard: what a request routes by
// from start to end, even when a newer version is loaded meanwhile.
type Snapshot struct {
	version    int64
	partitions int
	owners     []string
	stores     map[string]*shard.Store
	shards     map[string]shard.Info

	byShardOnce sync.Once
	byShard     map[string][]int
}

// Version is the topology version.
func (s *Snapshot) Version() int64 { return s.version }

// Partitions is the cluster's partition count (fixed when the cluster was created).
func (s *Snapshot) Partitions() int { return s.partitions }

// Shards returns every shard of this version with its state (do not modify the map).
func (s *Snapshot) Shards() map[string]shard.Info { return s.shards }

// Stores returns the store of every shard of this version by name (do not modify the map).
func (s *Snapshot) Stores() map[string]*shard.Store { return s.stores }

// PartitionsOf returns the partitions this snapshot assigns to the shard, ascending.
func (s *Snapshot) PartitionsOf(name string) []int {
	s.byShardOnce.Do(func() {
		s.byShard = map[string][]int{}
		for p, o := range s.owners {
			s.byShard[o] = append(s.byShard[o], p)
		}
	})
	return s.byShard[name]
}

// OwnerName returns the name of the shard that owns partition p (p must be in range).
func (s *Snapshot) OwnerName(p int) string { return s.owners[p] }

// Owner returns the store that owns partition p in this snapshot.
func (s *Snapshot) Owner(p int) (*shard.Store, error) {
	if p < 0 || p >= len(s.owners) {
		return nil, fmt.Errorf("partition %d out of range", p)
	}
	st, ok := s.stores[s.owners[p]]
	if !ok {
		return nil, fmt.Errorf("partition %d: shard %q has no connection", p, s.owners[p])
	}
	return st, nil
}

// ActiveStores returns the stores of every shard that owns at least one partition.
func (s *Snapshot) ActiveStores() []*shard.Store {
	seen := map[string]bool{}
	var out []*shard.Store
	for _, o := range s.owners {
		if !seen[o] {
			seen[o] = true
			out = append(out, s.stores[o])
		}
	}
	return out
}

// PartitionCounts returns how many partitions each shard owns (shards that own none are absent).
func (s *Snapshot) PartitionCounts() map[string]int {
	counts := map[string]int{}
	for _, o := range s.owners {
		counts[o]++
	}
	return counts
}
