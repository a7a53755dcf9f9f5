package router

// Balance summarises how evenly a map spreads a load over its shards.
type Balance struct {
	// Shards is the number of distinct shards owning at least one partition.
	Shards int
	// Max and Min are the largest and smallest load of a shard.
	Max, Min int
	// Avg is the total load divided by Shards.
	Avg float64
	// MaxOverAvg is Max/Avg: 1.0 is perfect balance; 0 when Avg is 0.
	MaxOverAvg float64
}

// PartitionBalance returns the balance of m counting partitions per shard.
func PartitionBalance(m Map) Balance {
	loads := make(map[string]int64)
	for _, s := range m.Owners {
		loads[s]++
	}
	return balanceOf(loads)
}

// RowBalance returns the balance of m weighting each partition p by rows[p].
// Partitions missing from rows weigh 0, as do negative counts; keys outside
// the map's partitions are ignored.
func RowBalance(m Map, rows map[int]int64) Balance {
	loads := make(map[string]int64)
	for p, s := range m.Owners {
		loads[s] += max(rows[p], 0)
	}
	return balanceOf(loads)
}

// balanceOf computes the figures of per-shard loads.
func balanceOf(loads map[string]int64) Balance {
	if len(loads) == 0 {
		return Balance{}
	}
	var total int64
	first := true
	var hi, lo int64
	for _, l := range loads {
		total += l
		if first || l > hi {
			hi = l
		}
		if first || l < lo {
			lo = l
		}
		first = false
	}
	b := Balance{Shards: len(loads), Max: int(hi), Min: int(lo), Avg: float64(total) / float64(len(loads))}
	if b.Avg > 0 {
		b.MaxOverAvg = float64(hi) / b.Avg
	}
	return b
}
