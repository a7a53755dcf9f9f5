// Package shard is the only package with SQL. It owns every table, on the shards and in the
// metadata store, next to their schema (golang-migrate files embedded from schema/):
//
//   - Store is one shard: products, stock, reservations and their lines, the change log,
//     idempotency keys and applied-request markers, partition fences, lots, stock alerts, the
//     ledger base, and the mover's primitives (sync point, copy a chunk by primary key, copy
//     change rows keeping their origin, re-copy the row images a catch-up names, checksum and
//     purge a partition) plus the reads of the verifier and the archive.
//   - Meta is the metadata store: shards, topology versions, resharding jobs and their moves
//     (and the one "active job" query), event sinks and cursors, the archive lock.
//
// Every write to a partitioned row runs in a short transaction that checks the partition's
// fence and appends to the change log in the same transaction. Driver errors are converted
// here, at the edge: callers see domain errors (inventory.Error: partition_moved,
// shard_unavailable naming the shard, already_applied…) or errors wrapped with the shard or
// "meta store" they come from, never a bare driver error to inspect. Callers use errors.Is and
// errors.As, never the error text.
package shard
