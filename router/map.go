package router

import "sort"

// Map is the partition→shard assignment: Owners[p] is the name of the shard
// owning partition p. Its length is the cluster's partition count.
type Map struct {
	Owners []string
}

// Partitions returns the number of partitions in the map.
func (m Map) Partitions() int { return len(m.Owners) }

// Owner returns the shard owning partition, and false when partition is out of range.
func (m Map) Owner(partition int) (string, bool) {
	if partition < 0 || partition >= len(m.Owners) {
		return "", false
	}
	return m.Owners[partition], true
}

// Shards returns the distinct owners of the map, sorted by name.
func (m Map) Shards() []string {
	counts := m.Counts()
	shards := make([]string, 0, len(counts))
	for s := range counts {
		shards = append(shards, s)
	}
	sort.Strings(shards)
	return shards
}

// Counts returns the number of partitions each shard owns. Shards owning no
// partition do not appear.
func (m Map) Counts() map[string]int {
	counts := make(map[string]int)
	for _, s := range m.Owners {
		counts[s]++
	}
	return counts
}

// Validate reports whether the map is usable: it has 1..MaxPartitions
// partitions and every owner is a valid shard name.
func (m Map) Validate() error {
	if len(m.Owners) == 0 {
		return invalidf(ErrPartitionCount, "map has no partitions")
	}
	if len(m.Owners) > MaxPartitions {
		return invalidf(ErrPartitionCount, "map has %d partitions, more than the maximum %d", len(m.Owners), MaxPartitions)
	}
	for p, s := range m.Owners {
		if err := ValidateShardName(s); err != nil {
			return within(err, "partition %d", p)
		}
	}
	return nil
}
