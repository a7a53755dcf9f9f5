package router

import (
	"fmt"
	"testing"
)

// shardNames returns n shard names shard-00, shard-01, ...
func shardNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("shard-%02d", i)
	}
	return names
}

// checkBalancedMap reports an error when m does not have partitions
// partitions, each owned by a member of shards, with every shard owning
// floor(P/N) or ceil(P/N) partitions.
func checkBalancedMap(m Map, shards []string, partitions int) error {
	if m.Partitions() != partitions {
		return fmt.Errorf("map has %d partitions, want %d", m.Partitions(), partitions)
	}
	inSet := make(map[string]bool, len(shards))
	for _, s := range shards {
		inSet[s] = true
	}
	for p, s := range m.Owners {
		if !inSet[s] {
			return fmt.Errorf("partition %d owned by %q, not in the shard set", p, s)
		}
	}
	lo, hi := partitions/len(shards), (partitions+len(shards)-1)/len(shards)
	counts := m.Counts()
	for _, s := range shards {
		if c := counts[s]; c < lo || c > hi {
			return fmt.Errorf("shard %q owns %d partitions, want %d..%d", s, c, lo, hi)
		}
	}
	return nil
}

// requireBalancedMap fails t when checkBalancedMap reports an error.
func requireBalancedMap(t *testing.T, m Map, shards []string, partitions int) {
	t.Helper()
	if err := checkBalancedMap(m, shards, partitions); err != nil {
		t.Fatal(err)
	}
}

// checkDiff reports an error when moves is not exactly the list of
// partitions whose owner differs between from and to, in ascending order.
func checkDiff(from, to Map, moves []Move) error {
	i := 0
	for p := range from.Owners {
		if from.Owners[p] == to.Owners[p] {
			continue
		}
		if i >= len(moves) {
			return fmt.Errorf("partition %d changed owner but is not in the diff", p)
		}
		want := Move{Partition: p, From: from.Owners[p], To: to.Owners[p]}
		if moves[i] != want {
			return fmt.Errorf("move %d is %+v, want %+v", i, moves[i], want)
		}
		i++
	}
	if i != len(moves) {
		return fmt.Errorf("diff has %d moves, want %d", len(moves), i)
	}
	return nil
}
