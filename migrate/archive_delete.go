package migrate

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/shardstock/shardstock/shard"
)

// The delete phase of Archive (see archive.go for the whole procedure): only after every file of
// every shard verified, each shard's archived rows are deleted in chunks, each chunk one
// transaction of shard.Ledger.DeleteArchived guarded against resharding jobs.

// deleteTimeout bounds one chunk's delete transaction (with its retries).
const deleteTimeout = 30 * time.Second

// deleteAll deletes every shard's archived rows, in parallel.
func (a *archiver) deleteAll(ctx context.Context, rep *ArchiveReport, stores []*shard.Store, man ArchiveReport) error {
	return a.eachShard(ctx, stores, func(ctx context.Context, i int) error {
		err := timed(&rep.Shards[i], func() error { return a.delete(ctx, stores[i], &rep.Shards[i], man.Shards[i]) })
		if err == nil {
			a.progress(rep.Shards[i], "deleted")
		}
		return err
	})
}

// delete deletes the shard's archived rows, file by file, in chunks.
func (a *archiver) delete(ctx context.Context, st *shard.Store, sa *ShardArchive, man ShardArchive) error {
	for _, f := range man.Files {
		rows, err := a.readVerified(f)
		if err != nil {
			return err
		}
		for start := 0; start < len(rows); start += a.opts.ChunkRows {
			chunk := rows[start:min(start+a.opts.ChunkRows, len(rows))]
			if err := a.deleteChunk(ctx, st, chunk); err != nil {
				return fmt.Errorf("delete seq %d..%d: %w", chunk[0].Seq, chunk[len(chunk)-1].Seq, err)
			}
			sa.Deleted += int64(len(chunk))
		}
	}
	return nil
}

// readVerified reads a file's rows again, making sure it did not change since it was verified.
func (a *archiver) readVerified(f ArchiveFile) ([]shard.ChangeRow, error) {
	var rows []shard.ChangeRow
	got, err := ReadArchiveFile(filepath.Join(a.dir, filepath.FromSlash(f.Path)), func(c ArchivedChange) error {
		rows = append(rows, c.row())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if got.SHA256 != f.SHA256 || got.Rows != f.Rows {
		return nil, fmt.Errorf("file %s changed since it was verified", f.Path)
	}
	return rows, nil
}

// deleteChunk deletes one chunk's rows, adding their sums to the ledger base, in one
// transaction that re-checks, under the partitions' fences, that no resharding job is active.
func (a *archiver) deleteChunk(ctx context.Context, st *shard.Store, chunk []shard.ChangeRow) error {
	ctx, cancel := context.WithTimeout(ctx, deleteTimeout)
	defer cancel()
	// A job created since the start copies these partitions only after taking their fences.
	return st.Ledger().DeleteArchived(ctx, chunk, func(ctx context.Context) error { return checkNoActiveJob(ctx, a.meta) })
}
