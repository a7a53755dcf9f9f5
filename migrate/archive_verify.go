package migrate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"github.com/shardstock/shardstock/shard"
)

// The verify phase of Archive: the manifest is read back, every file re-read and compared with
// it, and with the shard's own count and sums of the same rows (see archive.go).

// verifyAll verifies every shard's files and returns the manifest as stored.
func (a *archiver) verifyAll(ctx context.Context, rep *ArchiveReport, stores []*shard.Store) (ArchiveReport, error) {
	man, err := ReadManifest(a.dir)
	if err != nil {
		return man, err
	}
	if len(man.Shards) != len(rep.Shards) {
		return man, fmt.Errorf("manifest lists %d shards, the run has %d", len(man.Shards), len(rep.Shards))
	}
	err = a.eachShard(ctx, stores, func(ctx context.Context, i int) error {
		return timed(&rep.Shards[i], func() error { return a.verify(ctx, stores[i], rep.Shards[i], man.Shards[i]) })
	})
	if err != nil {
		return man, err
	}
	for _, s := range rep.Shards {
		a.progress(s, "verified")
	}
	return man, nil
}

// verify re-reads every file of the shard and compares it with the manifest entry (as stored)
// and with the shard's rows.
func (a *archiver) verify(ctx context.Context, st *shard.Store, sa, man ShardArchive) error {
	if man.Shard != sa.Shard || man.Rows != sa.Rows || man.SeqBelow != sa.SeqBelow || !man.Cutoff.Equal(sa.Cutoff) ||
		!slices.Equal(man.Partitions, sa.Partitions) || !slices.Equal(man.Files, sa.Files) {
		return errors.New("manifest on disk differs from the export")
	}
	var total int64
	var prevTo uint64
	for _, f := range man.Files {
		if err := a.verifyFile(ctx, st, sa, f, prevTo); err != nil {
			return err
		}
		prevTo = f.ToSeq
		total += f.Rows
	}
	if total != man.Rows {
		return fmt.Errorf("files hold %d rows, the manifest says %d", total, man.Rows)
	}
	return nil
}

// verifyFile re-reads one file and compares it with its manifest entry, checks that it starts
// after the previous file's last seq, and compares it with the count and sums of the shard's
// eligible rows in its seq range.
func (a *archiver) verifyFile(ctx context.Context, st *shard.Store, sa ShardArchive, f ArchiveFile, prevTo uint64) error {
	got, err := ReadArchiveFile(filepath.Join(a.dir, filepath.FromSlash(f.Path)), nil)
	if err != nil {
		return err
	}
	got.Path = f.Path
	if got != f {
		return fmt.Errorf("file %s does not match the manifest: read %+v, manifest %+v", f.Path, got, f)
	}
	if f.FromSeq <= prevTo && prevTo != 0 {
		return fmt.Errorf("file %s overlaps the previous file", f.Path)
	}
	sums, err := st.Ledger().ArchivableSums(ctx, sa.archiveRange(), f.FromSeq, f.ToSeq)
	if err != nil {
		return err
	}
	if sums.Rows != f.Rows || sums.SumOnHand != f.SumOnHand || sums.SumReserved != f.SumReserved {
		return fmt.Errorf("file %s: the shard holds %d rows (sums %d, %d) in its range, the file %d (sums %d, %d)",
			f.Path, sums.Rows, sums.SumOnHand, sums.SumReserved, f.Rows, f.SumOnHand, f.SumReserved)
	}
	return nil
}
