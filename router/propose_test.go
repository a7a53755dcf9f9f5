package router

import (
	"fmt"
	"math/rand"
	"reflect"
	"sort"
	"testing"
)

func TestPropose(t *testing.T) {
	tests := []struct {
		name       string
		shards     []string
		partitions int
		opts       RingOptions
		wantErr    error
	}{
		{"default 4 shards", shardNames(4), DefaultPartitions, RingOptions{}, nil},
		{"one shard", []string{"only"}, DefaultPartitions, RingOptions{}, nil},
		{"one partition", []string{"only"}, 1, RingOptions{}, nil},
		{"shards equal partitions", shardNames(32), 32, RingOptions{}, nil},
		{"uneven", shardNames(7), 1000, RingOptions{ReplicationFactor: 3, Load: 3}, nil},
		{"max partitions", shardNames(10), MaxPartitions, RingOptions{}, nil},
		{"invalid layout", shardNames(3), 2, RingOptions{}, ErrShardCount},
		{"invalid name", []string{"a b"}, 16, RingOptions{}, ErrShardName},
		{"invalid options", shardNames(3), 16, RingOptions{Load: 0.5}, ErrRingOptions},
		{"load too small", shardNames(3), 16, RingOptions{Load: 1}, ErrRingOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Propose(tt.shards, tt.partitions, tt.opts)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			requireBalancedMap(t, m, tt.shards, tt.partitions)
			again, err := Propose(tt.shards, tt.partitions, tt.opts)
			if err != nil || !reflect.DeepEqual(again, m) {
				t.Errorf("Propose is not deterministic (err %v)", err)
			}
		})
	}
}

func TestProposeChange(t *testing.T) {
	base, err := Propose(shardNames(4), DefaultPartitions, RingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	skewed := Map{Owners: make([]string, 100)}
	for p := range skewed.Owners {
		skewed.Owners[p] = "a"
		if p%10 == 0 {
			skewed.Owners[p] = "b"
		}
	}
	tests := []struct {
		name     string
		current  Map
		shards   []string
		opts     RingOptions
		maxMoves int // -1: do not check
		wantErr  error
	}{
		{"same set moves nothing", base, shardNames(4), RingOptions{}, 0, nil},
		{"add one shard", base, shardNames(5), RingOptions{}, (DefaultPartitions + 4) / 5, nil},
		{"remove one shard", base, shardNames(3), RingOptions{}, DefaultPartitions / 4, nil},
		{"add four shards", base, shardNames(8), RingOptions{}, DefaultPartitions / 2, nil},
		{"replace every shard", base, []string{"x", "y"}, RingOptions{}, DefaultPartitions, nil},
		{"rebalance skewed map", skewed, []string{"a", "b"}, RingOptions{}, 40, nil},
		{"invalid current", Map{Owners: []string{"a", ""}}, []string{"a"}, RingOptions{}, -1, ErrShardName},
		{"empty current", Map{}, []string{"a"}, RingOptions{}, -1, ErrPartitionCount},
		{"too many shards", Map{Owners: []string{"a", "a"}}, []string{"a", "b", "c"}, RingOptions{}, -1, ErrShardCount},
		{"duplicate shards", base, []string{"a", "a"}, RingOptions{}, -1, ErrDuplicateShard},
		{"invalid options", base, shardNames(5), RingOptions{ReplicationFactor: -1}, -1, ErrRingOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := append([]string(nil), tt.current.Owners...)
			m, err := ProposeChange(tt.current, tt.shards, tt.opts)
			checkErr(t, err, tt.wantErr)
			if !reflect.DeepEqual(before, tt.current.Owners) {
				t.Fatal("ProposeChange modified current")
			}
			if err != nil {
				return
			}
			requireBalancedMap(t, m, tt.shards, tt.current.Partitions())
			moves, err := Diff(tt.current, m)
			if err != nil {
				t.Fatal(err)
			}
			if tt.maxMoves >= 0 && len(moves) > tt.maxMoves {
				t.Errorf("%d moves, want at most %d", len(moves), tt.maxMoves)
			}
		})
	}
}

// TestProposeChangeProperties checks, over many random shard sets and
// partition counts, that proposals are balanced partitions of the shard set,
// that Diff lists exactly the changed partitions, and that adding or removing
// shards from a balanced map moves the ideal number of partitions: the new
// shards' share when adding, only the removed shards' partitions when removing.
func TestProposeChangeProperties(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	for i := 0; i < iterations; i++ {
		partitions := 1 + rng.Intn(2048)
		n := 1 + rng.Intn(min(partitions, 24))
		shards := randomShardNames(rng, n)
		opts := RingOptions{ReplicationFactor: 2 + rng.Intn(40), Load: 1.01 + rng.Float64()*2}
		name := fmt.Sprintf("P=%d/N=%d/%+v", partitions, n, opts)

		current, err := Propose(shards, partitions, opts)
		if err != nil {
			t.Fatalf("%s: Propose: %v", name, err)
		}
		if err := checkBalancedMap(current, shards, partitions); err != nil {
			t.Fatalf("%s: Propose: %v", name, err)
		}

		// Add k shards.
		if n < partitions {
			k := 1 + rng.Intn(min(partitions-n, 3))
			grown := append(append([]string(nil), shards...), randomShardNames(rng, k)...)
			if hasDuplicates(grown) {
				continue
			}
			checkChange(t, name+"/add", current, grown, opts, addBound(partitions, n, k))
		}
		// Remove k shards.
		if n > 1 {
			k := 1 + rng.Intn(min(n-1, 3))
			kept := append([]string(nil), shards...)
			rng.Shuffle(len(kept), func(i, j int) { kept[i], kept[j] = kept[j], kept[i] })
			removed := kept[len(kept)-k:]
			kept = kept[:len(kept)-k]
			want := 0
			for _, s := range current.Owners {
				for _, r := range removed {
					if s == r {
						want++
					}
				}
			}
			checkChange(t, name+"/remove", current, kept, opts, want)
		}
	}
}

// addBound is the most partitions that adding k shards to a balanced map of n
// shards may move: the new shards' ceil share of partitions.
func addBound(partitions, n, k int) int {
	return k * ((partitions + n + k - 1) / (n + k))
}

// checkChange proposes the change to shards and checks the invariants and
// that at most maxMoves partitions move.
func checkChange(t *testing.T, name string, current Map, shards []string, opts RingOptions, maxMoves int) {
	t.Helper()
	next, err := ProposeChange(current, shards, opts)
	if err != nil {
		t.Fatalf("%s: ProposeChange: %v", name, err)
	}
	if err := checkBalancedMap(next, shards, current.Partitions()); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	moves, err := Diff(current, next)
	if err != nil {
		t.Fatalf("%s: Diff: %v", name, err)
	}
	if err := checkDiff(current, next, moves); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(moves) > maxMoves {
		t.Fatalf("%s: %d partitions moved, want at most %d", name, len(moves), maxMoves)
	}
	if b := PartitionBalance(next); b.MaxOverAvg > 1+1/b.Avg+1e-9 {
		t.Fatalf("%s: max/avg %.4f above 1 + 1/avg", name, b.MaxOverAvg)
	}
}

// TestMovementFigures logs movement and balance for common resharding steps.
func TestMovementFigures(t *testing.T) {
	steps := []struct{ from, to, partitions int }{
		{4, 5, 1024}, {5, 4, 1024}, {8, 9, 1024}, {16, 17, 1024}, {10, 12, 4096}, {3, 2, 1024},
	}
	for _, s := range steps {
		current, err := Propose(shardNames(s.from), s.partitions, RingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		next, err := ProposeChange(current, shardNames(s.to), RingOptions{})
		if err != nil {
			t.Fatal(err)
		}
		moves, _ := Diff(current, next)
		// Ideal: the partitions the new shards must own, or those the removed shards own.
		ideal := 0
		if s.to > s.from {
			ideal = (s.to - s.from) * s.partitions / s.to
		} else {
			for _, o := range current.Owners {
				if o >= shardNames(s.from)[s.to] {
					ideal++
				}
			}
		}
		b := PartitionBalance(next)
		t.Logf("%d→%d shards, P=%d: moved %d (ideal ≈%d), max %d min %d avg %.2f max/avg %.4f",
			s.from, s.to, s.partitions, len(moves), ideal, b.Max, b.Min, b.Avg, b.MaxOverAvg)
	}
}

func randomShardNames(rng *rand.Rand, n int) []string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
	seen := map[string]bool{}
	names := make([]string, 0, n)
	for len(names) < n {
		b := make([]byte, 1+rng.Intn(12))
		for i := range b {
			b[i] = alphabet[rng.Intn(len(alphabet))]
		}
		if !seen[string(b)] {
			seen[string(b)] = true
			names = append(names, string(b))
		}
	}
	return names
}

func hasDuplicates(names []string) bool {
	s := append([]string(nil), names...)
	sort.Strings(s)
	for i := 1; i < len(s); i++ {
		if s[i] == s[i-1] {
			return true
		}
	}
	return false
}

// TestProposeChangeMinimalMoves checks, over random and unbalanced current
// maps, that ProposeChange moves exactly the minimum number of partitions
// needed to balance the new shard set.
func TestProposeChangeMinimalMoves(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	for i := 0; i < 200; i++ {
		partitions := 1 + rng.Intn(1500)
		pool := randomShardNames(rng, 1+rng.Intn(min(partitions, 20)))
		current := Map{Owners: make([]string, partitions)}
		skew := 1 + rng.Intn(len(pool))
		for p := range current.Owners {
			current.Owners[p] = pool[rng.Intn(skew)]
		}
		rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
		next := pool[:1+rng.Intn(len(pool))]
		proposed, err := ProposeChange(current, next, RingOptions{})
		if err != nil {
			t.Fatalf("ProposeChange: %v", err)
		}
		if err := checkBalancedMap(proposed, next, partitions); err != nil {
			t.Fatal(err)
		}
		moves, _ := Diff(current, proposed)
		if want := minimalMoves(current, next); len(moves) != want {
			t.Fatalf("P=%d: %d moves, minimum %d", partitions, len(moves), want)
		}
	}
}
