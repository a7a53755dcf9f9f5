package router

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

// Fuzz inputs are bounded so that one execution stays in the millisecond range.
const (
	fuzzMaxPartitions = 4096
	fuzzMaxShards     = 64
	fuzzMaxRF         = 64
)

func FuzzPartition(f *testing.F) {
	f.Add("ABC-123", DefaultPartitions)
	f.Add("", 1)
	f.Add("x", 0)
	f.Add("x", -7)
	f.Add("long-sku-with-ünïcode", MaxPartitions)
	f.Fuzz(func(t *testing.T, sku string, partitions int) {
		p := Partition(sku, partitions)
		if partitions <= 0 {
			if p != -1 {
				t.Fatalf("Partition(%q, %d) = %d, want -1", sku, partitions, p)
			}
			return
		}
		if p < 0 || p >= partitions {
			t.Fatalf("Partition(%q, %d) = %d, out of range", sku, partitions, p)
		}
		if again := Partition(sku, partitions); again != p {
			t.Fatalf("Partition(%q, %d) not deterministic: %d then %d", sku, partitions, p, again)
		}
	})
}

func FuzzValidateLayout(f *testing.F) {
	f.Add("a,b,c", 16)
	f.Add("a", 1)
	f.Add("", 16)
	f.Add("a,a", 16)
	f.Add("a,b,c", 2)
	f.Add("x y", 4)
	f.Add("s1,s11,s110", 0)
	f.Fuzz(func(t *testing.T, names string, partitions int) {
		shards := splitNames(names)
		err := ValidateLayout(shards, partitions)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			if _, perr := Propose(shards, min(max(partitions, -1), fuzzMaxPartitions+1), RingOptions{}); perr == nil && partitions <= fuzzMaxPartitions {
				t.Fatalf("Propose accepted a layout ValidateLayout rejects: %v", err)
			}
			return
		}
		if partitions < 1 || partitions > MaxPartitions || len(shards) == 0 || len(shards) > partitions {
			t.Fatalf("ValidateLayout accepted %d shards over %d partitions", len(shards), partitions)
		}
		seen := map[string]bool{}
		for _, s := range shards {
			if ValidateShardName(s) != nil || seen[s] {
				t.Fatalf("ValidateLayout accepted invalid or duplicate name %q", s)
			}
			seen[s] = true
		}
		if partitions > fuzzMaxPartitions {
			return
		}
		m, err := Propose(shards, partitions, RingOptions{})
		if err != nil {
			t.Fatalf("Propose rejected a valid layout: %v", err)
		}
		if err := checkBalancedMap(m, shards, partitions); err != nil {
			t.Fatal(err)
		}
	})
}

func FuzzProposeChange(f *testing.F) {
	f.Add(1024, "a,b,c,d", []byte{}, "a,b,c,d,e", 0, 0.0)
	f.Add(1024, "a,b,c,d", []byte{}, "a,b,c", 0, 0.0)
	f.Add(100, "a,b", []byte{0, 0, 0, 1}, "a,b", 3, 1.5)
	f.Add(7, "a,b,c", []byte{2, 1}, "x,y,z,w,v,u,t", 2, 1.0)
	f.Add(5, "a", []byte{}, "a,b,c,d,e,f", 2, 1.0)
	f.Add(16, "s1,s11", []byte{1}, "s1,s11,s110", 40, 1e300)
	f.Add(0, "", []byte{}, "", -1, -1.0)
	f.Fuzz(func(t *testing.T, partitions int, names string, owners []byte, newNames string, rf int, load float64) {
		if partitions > fuzzMaxPartitions || partitions < -fuzzMaxPartitions {
			partitions %= fuzzMaxPartitions
		}
		if rf > fuzzMaxRF {
			rf = 2 + rf%fuzzMaxRF
		}
		opts := RingOptions{ReplicationFactor: rf, Load: load}
		shards, next := splitNames(names), splitNames(newNames)

		// The current map: the proposal for shards, or, when owners is given,
		// an arbitrary (possibly unbalanced or invalid) map chosen by owners.
		var current Map
		if len(owners) == 0 {
			m, err := Propose(shards, partitions, opts)
			if err != nil {
				return
			}
			current = m
		} else if partitions > 0 && len(shards) > 0 {
			current.Owners = make([]string, partitions)
			for p := range current.Owners {
				current.Owners[p] = shards[int(owners[p%len(owners)])%len(shards)]
			}
		}

		proposed, err := ProposeChange(current, next, opts)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if err := checkBalancedMap(proposed, next, current.Partitions()); err != nil {
			t.Fatal(err)
		}
		moves, err := Diff(current, proposed)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkDiff(current, proposed, moves); err != nil {
			t.Fatal(err)
		}
		if want := minimalMoves(current, next); len(moves) != want {
			t.Fatalf("%d partitions moved, the minimum is %d", len(moves), want)
		}
	})
}

// splitNames splits a comma-separated list, bounded to fuzzMaxShards names.
func splitNames(s string) []string {
	names := strings.Split(s, ",")
	if len(names) > fuzzMaxShards {
		names = names[:fuzzMaxShards]
	}
	return names
}

// minimalMoves is the fewest partitions that must change owner to turn
// current into a balanced map over shards: every partition of a removed shard,
// plus each shard's surplus over its target when the ceil(P/N) targets go to
// the shards owning the most.
func minimalMoves(current Map, shards []string) int {
	counts := current.Counts()
	inSet := map[string]bool{}
	var kept []int
	for _, s := range shards {
		inSet[s] = true
		kept = append(kept, counts[s])
	}
	moves := 0
	for _, s := range current.Owners {
		if !inSet[s] {
			moves++
		}
	}
	sort.Sort(sort.Reverse(sort.IntSlice(kept)))
	base, extra := current.Partitions()/len(shards), current.Partitions()%len(shards)
	for i, c := range kept {
		target := base
		if i < extra {
			target++
		}
		moves += max(0, c-target)
	}
	return moves
}
