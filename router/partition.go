package router

import "github.com/cespare/xxhash/v2"

// DefaultPartitions is the partition count of a cluster created without an explicit one.
const DefaultPartitions = 1024

// MaxPartitions is the largest partition count a layout may have.
const MaxPartitions = 65536

// Partition returns the partition of sku: xxhash64(sku) % partitions.
//
// partitions must be > 0 (callers validate it with ValidateLayout). For
// partitions <= 0 Partition returns -1 instead of panicking, which every Map
// reports as not owned (Owner returns false).
func Partition(sku string, partitions int) int {
	if partitions <= 0 {
		return -1
	}
	return int(xxhash.Sum64String(sku) % uint64(partitions))
}
