package migrate

import (
	"context"
	"os"
	"path/filepath"
	"time"

	"github.com/shardstock/shardstock/shard"
)

// The export phase of Archive: each shard's eligible change rows, in seq order, into gzip JSONL
// files of at most FileRows rows (see archive.go for the whole procedure).

// exportPage is how many change rows the export reads per query.
const exportPage = 5000

// exportAll exports every shard in parallel into rep.Shards.
func (a *archiver) exportAll(ctx context.Context, rep *ArchiveReport, stores []*shard.Store, watermarks map[string]uint64) error {
	return a.eachShard(ctx, stores, func(ctx context.Context, i int) error {
		t0 := time.Now()
		sa, err := a.export(ctx, stores[i], watermarks[stores[i].Name()])
		sa.DurationSeconds = time.Since(t0).Seconds()
		rep.Shards[i] = sa
		if err == nil {
			a.progress(sa, "exported")
		}
		return err
	})
}

// export decides the shard's eligible rows and, unless dry-running, writes them to files.
func (a *archiver) export(ctx context.Context, st *shard.Store, watermark uint64) (ShardArchive, error) {
	sa := ShardArchive{Shard: st.Name(), Partitions: []int{}, Files: []ArchiveFile{}}
	now, newest, err := st.Ledger().LogHorizon(ctx)
	if err != nil {
		return sa, err
	}
	sa.Cutoff = now.Add(-a.olderThan).UTC()
	sa.SeqBelow = min(watermark, newest) // the newest row stays (see above)
	if sa.Partitions, err = st.Mover().OwnedPartitions(ctx); err != nil {
		return sa, err
	}
	if sa.SeqBelow <= 1 || len(sa.Partitions) == 0 {
		return sa, nil
	}
	if a.opts.DryRun {
		sums, err := st.Ledger().ArchivableSums(ctx, sa.archiveRange(), 0, sa.SeqBelow)
		sa.Rows, sa.SumOnHand, sa.SumReserved, sa.FromSeq, sa.ToSeq = sums.Rows, sums.SumOnHand, sums.SumReserved, sums.FromSeq, sums.ToSeq
		return sa, err
	}
	if err := os.Mkdir(filepath.Join(a.dir, sa.Shard), 0o755); err != nil {
		return sa, err
	}
	err = a.writeFiles(ctx, st, &sa)
	for _, f := range sa.Files {
		sa.Bytes += f.Bytes
	}
	return sa, err
}

// archiveRange is the range of change rows the shard's entry makes eligible.
func (sa ShardArchive) archiveRange() shard.ArchiveRange {
	return shard.ArchiveRange{Partitions: sa.Partitions, Cutoff: sa.Cutoff, SeqBelow: sa.SeqBelow}
}

// writeFiles writes the shard's eligible rows (those of its owned partitions) to files, and
// their figures to sa.
func (a *archiver) writeFiles(ctx context.Context, st *shard.Store, sa *ShardArchive) error {
	owned := make(map[int]bool, len(sa.Partitions))
	for _, p := range sa.Partitions {
		owned[p] = true
	}
	var w *archiveWriter
	defer func() {
		if w != nil {
			w.abort()
		}
	}()
	var sums fileSums
	for after := uint64(0); ; {
		batch, err := st.Ledger().ChangesBefore(ctx, after, sa.SeqBelow, sa.Cutoff, exportPage)
		if err != nil {
			return err
		}
		for _, row := range batch {
			if !owned[row.PartitionID] {
				continue
			}
			c := archived(sa.Shard, row)
			if w == nil {
				if w, err = newArchiveWriter(a.dir, sa.Shard); err != nil {
					return err
				}
			}
			if err := w.write(c); err != nil {
				return err
			}
			if err := sums.add(c); err != nil {
				return err
			}
			if w.sums.rows >= int64(a.opts.FileRows) {
				if err := closeFile(&w, sa); err != nil {
					return err
				}
			}
		}
		if len(batch) < exportPage {
			break
		}
		after = batch[len(batch)-1].Seq
	}
	if w != nil {
		if err := closeFile(&w, sa); err != nil {
			return err
		}
	}
	sa.Rows, sa.FromSeq, sa.ToSeq, sa.SumOnHand, sa.SumReserved = sums.rows, sums.from, sums.to, sums.sumOnHand, sums.sumReserved
	return nil
}

// closeFile finishes the open file *w and lists it in sa.
func closeFile(w **archiveWriter, sa *ShardArchive) error {
	f, err := (*w).close()
	*w = nil
	if err != nil {
		return err
	}
	sa.Files = append(sa.Files, f)
	return nil
}
