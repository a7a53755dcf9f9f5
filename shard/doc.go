// Package shard is the only package with SQL. It owns every table, on the shards and in the
// metadata store, next to their schema (golang-migrate files embedded from schema/):
//
//   - Store is one shard. Its own methods are the online path: products, stock, reservations
//     and their lines, idempotency keys and applied-request markers, lots, stock alerts and the
//     reports. Four facets (facets.go) hold the rest, each owning its statements: Store.Upkeep
//     (the background workers' whole-shard passes: alert reconcile, lot expiry, expired
//     idempotency keys, reservation headers to recover), Store.Mover (the mover's primitives:
//     sync point, copy a chunk by primary key, copy change rows keeping their origin, re-copy
//     the row images a catch-up names, purge a partition, fences, checksums), Store.Ledger (the
//     reads of the verifier and the archive, and the archive's delete into the ledger base) and
//     Store.Relay (the event relay's reads of the change log and its lease).
//   - Meta is the metadata store: shards, topology versions and the archive lock, API keys and
//     secrets; its facets are Meta.Jobs (resharding jobs and their moves, and the one "active
//     job" query) and Meta.Sinks (event sinks: webhooks, cursors, relay horizons, dead letters).
//
// Every write to a partitioned row runs in a short transaction that checks the partition's
// fence and appends to the change log in the same transaction. Driver errors are converted
// here, at the edge: callers see domain errors (inventory.Error: partition_moved,
// shard_unavailable naming the shard, already_applied…) or errors wrapped with the shard or
// "meta store" they come from, never a bare driver error to inspect. Callers use errors.Is and
// errors.As, never the error text.
package shard
