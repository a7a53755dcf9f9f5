// Package router maps SKUs to partitions and partitions to shards.
//
// It is pure code: no I/O and no imports from the rest of shardstock. A SKU's
// partition is xxhash64(sku) % P and never changes; the partition→shard Map is
// persisted elsewhere and is the truth. This package only builds proposals for
// that map (Propose, ProposeChange) with a consistent-hash ring followed by a
// deterministic minimal-move rebalance, diffs two maps into moves (Diff) and
// reports balance figures (PartitionBalance, RowBalance).
//
// No function in this package panics on any input: every configuration is
// validated before it reaches the consistent-hash library, which panics when
// it cannot place partitions.
package router
