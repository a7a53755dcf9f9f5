package router

import "sort"

// Propose builds the initial map of partitions partitions over shards: the
// consistent-hash ring places every partition, then the fewest partitions
// needed are moved so that every shard owns floor(P/N) or ceil(P/N)
// partitions. The result depends only on the shard set, partitions and opts.
func Propose(shards []string, partitions int, opts RingOptions) (Map, error) {
	if err := ValidateLayout(shards, partitions); err != nil {
		return Map{}, err
	}
	ring, err := ringOwners(shards, partitions, opts)
	if err != nil {
		return Map{}, err
	}
	owners := append([]string(nil), ring...)
	rebalance(owners, shards, ring)
	return Map{Owners: owners}, nil
}

// ProposeChange returns the map proposed for the shard set shards, starting
// from current and keeping its partition count.
//
// Partitions whose owner stays in the set keep it unless it owns more than
// its balanced share; partitions of removed shards and the surplus of
// overloaded shards go preferably where the ring over the new set places
// them. Every shard ends with floor(P/N) or ceil(P/N) partitions, reached
// with the fewest possible moves: when current is balanced, adding one shard
// moves exactly the new shard's share and removing shards moves only their
// partitions.
func ProposeChange(current Map, shards []string, opts RingOptions) (Map, error) {
	if err := current.Validate(); err != nil {
		return Map{}, err
	}
	partitions := current.Partitions()
	if err := ValidateLayout(shards, partitions); err != nil {
		return Map{}, err
	}
	ring, err := ringOwners(shards, partitions, opts)
	if err != nil {
		return Map{}, err
	}
	inSet := make(map[string]bool, len(shards))
	for _, s := range shards {
		inSet[s] = true
	}
	owners := make([]string, partitions)
	for p, s := range current.Owners {
		if inSet[s] {
			owners[p] = s
		}
	}
	rebalance(owners, shards, ring)
	return Map{Owners: owners}, nil
}

// rebalance reassigns, in place, the fewest partitions of owners needed so
// that every shard of shards owns floor(P/N) or ceil(P/N) partitions. An empty
// owner marks a partition that must be placed. ring[p] is the preferred owner
// of p; it is honoured whenever a move is needed anyway. Deterministic: ties
// are broken by shard name and partition number.
func rebalance(owners []string, shards []string, ring []string) {
	sorted := append([]string(nil), shards...)
	sort.Strings(sorted)

	count := make(map[string]int, len(sorted))
	for _, s := range owners {
		if s != "" {
			count[s]++
		}
	}
	// The ceil(P/N) slots go to the shards that already own the most, which
	// minimises the partitions that must leave their shard.
	byLoad := append([]string(nil), sorted...)
	sort.SliceStable(byLoad, func(i, j int) bool { return count[byLoad[i]] > count[byLoad[j]] })
	base, extra := len(owners)/len(sorted), len(owners)%len(sorted)
	// excess[s] > 0: s must give partitions away; < 0: s must receive -excess[s].
	excess := make(map[string]int, len(sorted))
	for i, s := range byLoad {
		target := base
		if i < extra {
			target++
		}
		excess[s] = count[s] - target
	}

	// Pass 1: move a partition to its ring owner when its current owner must
	// shed (or it has none) and the ring owner must receive.
	for p, s := range owners {
		d := ring[p]
		if d == s || excess[d] >= 0 || (s != "" && excess[s] <= 0) {
			continue
		}
		owners[p] = d
		excess[d]++
		if s != "" {
			excess[s]--
		}
	}

	// Pass 2: pool the partitions still without owner and each overloaded
	// shard's surplus (those the ring places elsewhere first), then hand the
	// pool, in partition order, to the shards that must receive, by name.
	var pool []int
	var preferred, others map[string][]int
	for p, s := range owners {
		switch {
		case s == "":
			pool = append(pool, p)
		case excess[s] > 0:
			if preferred == nil {
				preferred, others = make(map[string][]int), make(map[string][]int)
			}
			if ring[p] != s {
				preferred[s] = append(preferred[s], p)
			} else {
				others[s] = append(others[s], p)
			}
		}
	}
	for _, s := range sorted {
		if excess[s] <= 0 {
			continue
		}
		candidates := append(preferred[s], others[s]...)
		pool = append(pool, candidates[:excess[s]]...)
		excess[s] = 0
	}
	sort.Ints(pool)
	next := 0
	for _, s := range sorted {
		for ; excess[s] < 0 && next < len(pool); next++ {
			owners[pool[next]] = s
			excess[s]++
		}
	}
}
