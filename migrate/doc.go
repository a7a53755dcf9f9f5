// Package migrate orchestrates the cluster-wide operations; it owns no table and runs no SQL of
// its own: every read and write goes through the shard package's methods.
//
//   - Cluster setup (cluster.go): InitCluster creates the metadata store, every shard's schema,
//     the first partition map and the fences; Shards and ForEach run an operation, such as a
//     schema migration (shard.MigrateUp), over every shard in parallel.
//   - Online resharding, one file per component in the manner of ghostferry: the Resharder
//     (resharder.go) holds the connections, plans a job (plan.go), persists it and its
//     per-partition moves (job.go), can abort a job before its first cutover (abort.go) or
//     delete what cutovers left on the sources (cleanup.go); a jobRun (resharder.go) takes one
//     job through its steps: it fences and copies the moving partitions (copy.go), catches up
//     from the change log (catchup.go) and cuts over in small batches with checksums
//     (cutover.go). Every step is idempotent and its progress persisted, so a job resumes from
//     wherever a crash stopped it.
//   - Verify (verify.go) checks the cluster's invariants across all shards.
//   - Archive (archive*.go) moves old change-log rows into verified gzip JSONL files and
//     deletes them from the shards, keeping each product's ledger whole (ledger_base).
package migrate
