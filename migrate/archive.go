package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Ledger retention. Archive moves old change-log rows out of the shards into gzip-compressed
// JSONL files, in three phases over every shard in parallel:
//
//  1. export: the eligible rows of each shard are written in seq order to
//     <out>/<run>/<shard>/changes-<from>-<to>.jsonl.gz, and <out>/<run>/manifest.json lists every
//     file with its row count, seq range, delta sums and SHA-256;
//  2. verify: the manifest is read back, every file re-read and its rows, sums and SHA-256
//     recomputed and compared with the manifest, and with COUNT/SUM of the same rows in the shard;
//  3. delete: only when every file of every shard verified, the rows are deleted in chunks. Each
//     chunk is one transaction that takes its partitions' fences in share mode (as writes do)
//     and requires them owned, re-checks that no resharding job is active, compares the rows in
//     the database with the file's row by row, adds their per-SKU delta sums to ledger_base and
//     deletes them. on_hand = ledger_base.on_hand + SUM(changes.delta_on_hand) (and the same for
//     reserved) thus holds at every commit.
//
// A row is eligible when its partition is owned by the shard, created_at < (the shard's clock at
// the start) - olderThan, and seq < the shard's event low watermark (every event relay cursor has
// consumed it, shard.Meta.EventLowWatermarks). The newest row of a log is never deleted, so a
// server that recomputes AUTO_INCREMENT from MAX(seq) at restart cannot hand out a seq again.
//
// Resharding: a job's catch-up reads the change rows of its moving partitions, and ledger_base
// moves with a partition by row image, so Archive refuses to start while a job is planned or
// running (ErrReshardActive), and each delete transaction checks again after locking its fences:
// a job's copy of a partition begins by taking the fence exclusively (syncPoint), so it either
// waits for the chunk to commit or the chunk sees the job and stops. Rows of partitions being
// imported or moved out (leftovers awaiting cleanup) are never archived.
//
// One archive runs at a time per metadata store (a named lock). A run that fails after deleting
// some chunks leaves a consistent cluster; its manifest says how many rows of each shard were
// deleted, and the next run archives the rest again (rows are identified by shard and seq).

// ErrReshardActive means a resharding job is planned or running: the archive does not run then.
var ErrReshardActive = errors.New("a resharding job is active: archive refuses to run until it is done or aborted")

// ErrArchiveRunning means another archive run holds the archive lock of the metadata store.
var ErrArchiveRunning = errors.New("another archive run is in progress")

// ArchiveFormat is the version of the manifest and file format.
const ArchiveFormat = 1

// ArchiveOptions tunes Archive.
type ArchiveOptions struct {
	ChunkRows int  // rows deleted per transaction (default 1000)
	FileRows  int  // rows per archive file (default 100000)
	Parallel  int  // shards processed at once (0: all)
	DryRun    bool // count what would be archived; write and delete nothing
	// OnProgress, when set, is called (from several goroutines) when a shard finishes a phase:
	// "exported", "verified" (after every shard verified, before any deletion) and "deleted".
	OnProgress func(ArchiveProgress)
}

func (o *ArchiveOptions) defaults() {
	if o.ChunkRows <= 0 {
		o.ChunkRows = 1000
	}
	if o.FileRows <= 0 {
		o.FileRows = 100000
	}
}

// ArchiveProgress reports one shard passing a phase.
type ArchiveProgress struct {
	Shard string
	Phase string
	Rows  int64
	Files int
	Bytes int64
}

// ArchiveReport is the result of a run and the content of its manifest.
type ArchiveReport struct {
	Format int `json:"format"`
	// Dir is the run directory: manifest.json and one subdirectory of files per shard.
	Dir              string    `json:"dir,omitempty"`
	StartedAt        time.Time `json:"started_at"`
	OlderThanSeconds float64   `json:"older_than_seconds"`
	DryRun           bool      `json:"dry_run"`
	// Complete is true once every archived row was deleted from its shard.
	Complete        bool           `json:"complete"`
	Shards          []ShardArchive `json:"shards"`
	RowsArchived    int64          `json:"rows_archived"`
	RowsDeleted     int64          `json:"rows_deleted"`
	Bytes           int64          `json:"bytes"`
	DurationSeconds float64        `json:"duration_seconds"`
}

// ShardArchive is one shard's part of a run.
type ShardArchive struct {
	Shard string `json:"shard"`
	// Eligible rows: created before Cutoff, seq below SeqBelow, in one of Partitions (owned).
	Cutoff      time.Time     `json:"cutoff"`
	SeqBelow    uint64        `json:"seq_below"`
	Partitions  []int         `json:"partitions"`
	Rows        int64         `json:"rows"` // archived (written and verified)
	Deleted     int64         `json:"deleted"`
	FromSeq     uint64        `json:"from_seq"`
	ToSeq       uint64        `json:"to_seq"`
	SumOnHand   int64         `json:"sum_delta_on_hand"`
	SumReserved int64         `json:"sum_delta_reserved"`
	Bytes       int64         `json:"bytes"`
	Files       []ArchiveFile `json:"files"`
	// DurationSeconds is the shard's time in the three phases.
	DurationSeconds float64 `json:"duration_seconds"`
}

// archiver runs one archive over the shards.
type archiver struct {
	opts      ArchiveOptions
	olderThan time.Duration
	meta      *shard.Meta
	dir       string
}

// Archive archives the change-log rows older than olderThan of every shard into a new run
// directory under outDir and deletes them from the shards (see the overview above).
func Archive(ctx context.Context, metaDSN string, olderThan time.Duration, outDir string, opts ArchiveOptions) (ArchiveReport, error) {
	opts.defaults()
	start := time.Now()
	if olderThan < 0 {
		return ArchiveReport{}, fmt.Errorf("older-than must not be negative, got %s", olderThan)
	}
	if outDir == "" && !opts.DryRun {
		return ArchiveReport{}, errors.New("no output directory")
	}
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return ArchiveReport{}, err
	}
	defer meta.Close()
	unlock, err := archiveLock(ctx, meta.DB())
	if err != nil {
		return ArchiveReport{}, err
	}
	defer unlock()
	if err := checkNoActiveJob(ctx, meta.DB()); err != nil {
		return ArchiveReport{}, err
	}
	top, err := meta.Load(ctx)
	if err != nil {
		return ArchiveReport{}, err
	}
	var names []string
	for name, info := range top.Shards {
		if info.State != inventory.ShardRemoved {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	watermarks, err := meta.EventLowWatermarks(ctx, names)
	if err != nil {
		return ArchiveReport{}, err
	}
	stores := make([]*shard.Store, len(names))
	defer func() {
		for _, st := range stores {
			if st != nil {
				st.Close()
			}
		}
	}()
	for i, name := range names {
		if stores[i], err = shard.Open(name, top.Shards[name].DSN, shard.PoolOptions{MaxOpen: 4}); err != nil {
			return ArchiveReport{}, err
		}
	}
	a := &archiver{opts: opts, olderThan: olderThan, meta: meta}
	rep := ArchiveReport{Format: ArchiveFormat, StartedAt: start.UTC(), OlderThanSeconds: olderThan.Seconds(),
		DryRun: opts.DryRun, Shards: make([]ShardArchive, len(names))}
	if !opts.DryRun {
		if err := os.MkdirAll(outDir, 0o755); err != nil {
			return rep, err
		}
		a.dir = filepath.Join(outDir, "archive-"+start.UTC().Format("20060102T150405.000Z"))
		if err := os.Mkdir(a.dir, 0o755); err != nil {
			return rep, err
		}
		if abs, err := filepath.Abs(a.dir); err == nil {
			a.dir = abs
		}
		rep.Dir = a.dir
	}
	finish := func(err error) (ArchiveReport, error) {
		rep.RowsArchived, rep.RowsDeleted, rep.Bytes = 0, 0, 0
		for _, s := range rep.Shards {
			rep.RowsArchived += s.Rows
			rep.RowsDeleted += s.Deleted
			rep.Bytes += s.Bytes
		}
		rep.Complete = !opts.DryRun && err == nil && rep.RowsDeleted == rep.RowsArchived
		rep.DurationSeconds = time.Since(start).Seconds()
		return rep, err
	}

	// 1. Export.
	err = a.eachShard(ctx, names, func(ctx context.Context, i int) error {
		t0 := time.Now()
		sa, err := a.export(ctx, stores[i], watermarks[names[i]])
		sa.DurationSeconds = time.Since(t0).Seconds()
		rep.Shards[i] = sa
		if err == nil {
			a.progress(sa, "exported")
		}
		return err
	})
	if err != nil || opts.DryRun {
		return finish(err)
	}
	if err := writeManifest(a.dir, rep); err != nil {
		return finish(err)
	}

	// 2. Verify every file of every shard against the manifest as stored, and against the shards.
	man, err := ReadManifest(a.dir)
	if err != nil {
		return finish(err)
	}
	if len(man.Shards) != len(rep.Shards) {
		return finish(fmt.Errorf("manifest lists %d shards, the run has %d", len(man.Shards), len(rep.Shards)))
	}
	err = a.eachShard(ctx, names, func(ctx context.Context, i int) error {
		t0 := time.Now()
		err := a.verify(ctx, stores[i], rep.Shards[i], man.Shards[i])
		rep.Shards[i].DurationSeconds += time.Since(t0).Seconds()
		return err
	})
	if err != nil {
		return finish(err)
	}
	for _, s := range rep.Shards {
		a.progress(s, "verified")
	}

	// 3. Delete.
	err = a.eachShard(ctx, names, func(ctx context.Context, i int) error {
		t0 := time.Now()
		err := a.delete(ctx, stores[i], &rep.Shards[i], man.Shards[i])
		rep.Shards[i].DurationSeconds += time.Since(t0).Seconds()
		if err == nil {
			a.progress(rep.Shards[i], "deleted")
		}
		return err
	})
	rep, err = finish(err)
	if merr := writeManifest(a.dir, rep); merr != nil && err == nil {
		err = merr
	}
	return rep, err
}

// eachShard runs fn for every shard, at most opts.Parallel at once, and joins the failures.
func (a *archiver) eachShard(ctx context.Context, names []string, fn func(ctx context.Context, i int) error) error {
	par := a.opts.Parallel
	if par <= 0 || par > len(names) {
		par = max(len(names), 1)
	}
	sem := make(chan struct{}, par)
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				errs[i] = fmt.Errorf("shard %s: %w", names[i], err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (a *archiver) progress(s ShardArchive, phase string) {
	if a.opts.OnProgress != nil {
		rows := s.Rows
		if phase == "deleted" {
			rows = s.Deleted
		}
		a.opts.OnProgress(ArchiveProgress{Shard: s.Shard, Phase: phase, Rows: rows, Files: len(s.Files), Bytes: s.Bytes})
	}
}

// export decides the shard's eligible rows and, unless dry-running, writes them to files.
func (a *archiver) export(ctx context.Context, st *shard.Store, watermark uint64) (ShardArchive, error) {
	db := st.DB()
	sa := ShardArchive{Shard: st.Name(), Partitions: []int{}, Files: []ArchiveFile{}}
	var now time.Time
	var maxSeq uint64
	if err := db.QueryRowContext(ctx, "SELECT UTC_TIMESTAMP(6), (SELECT COALESCE(MAX(seq), 0) FROM changes)").Scan(&now, &maxSeq); err != nil {
		return sa, err
	}
	sa.Cutoff = now.Add(-a.olderThan).UTC()
	sa.SeqBelow = min(watermark, maxSeq) // the newest row stays (see above)
	rows, err := db.QueryContext(ctx, "SELECT partition_id FROM partition_fence WHERE state = ? ORDER BY partition_id", inventory.FenceOwned)
	if err != nil {
		return sa, err
	}
	for rows.Next() {
		var p int
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return sa, err
		}
		sa.Partitions = append(sa.Partitions, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sa, err
	}
	if sa.SeqBelow <= 1 || len(sa.Partitions) == 0 {
		return sa, nil
	}
	if a.opts.DryRun {
		var from, to sql.NullInt64
		err := db.QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(delta_on_hand), 0), COALESCE(SUM(delta_reserved), 0), MIN(seq), MAX(seq) "+
			eligibleWhere(len(sa.Partitions)), eligibleArgs(sa, 0, sa.SeqBelow)...).Scan(&sa.Rows, &sa.SumOnHand, &sa.SumReserved, &from, &to)
		sa.FromSeq, sa.ToSeq = uint64(from.Int64), uint64(to.Int64)
		return sa, err
	}
	if err := os.Mkdir(filepath.Join(a.dir, sa.Shard), 0o755); err != nil {
		return sa, err
	}
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
	closeFile := func() error {
		f, err := w.close()
		w = nil
		if err != nil {
			return err
		}
		sa.Files = append(sa.Files, f)
		return nil
	}
	const page = 5000
	var sums fileSums
	for after := uint64(0); ; {
		batch, err := readChanges(ctx, db, st.Name(), `SELECT `+changeColumns+` FROM changes
			WHERE seq > ? AND seq < ? AND created_at < ? ORDER BY seq LIMIT ?`, after, sa.SeqBelow, sa.Cutoff, page)
		if err != nil {
			return sa, err
		}
		for _, c := range batch {
			if !owned[c.PartitionID] {
				continue
			}
			if w == nil {
				if w, err = newArchiveWriter(a.dir, sa.Shard); err != nil {
					return sa, err
				}
			}
			if err := w.write(c); err != nil {
				return sa, err
			}
			if err := sums.add(c); err != nil {
				return sa, err
			}
			if w.sums.rows >= int64(a.opts.FileRows) {
				if err := closeFile(); err != nil {
					return sa, err
				}
			}
		}
		if len(batch) < page {
			break
		}
		after = batch[len(batch)-1].Seq
	}
	if w != nil {
		if err := closeFile(); err != nil {
			return sa, err
		}
	}
	sa.Rows, sa.FromSeq, sa.ToSeq, sa.SumOnHand, sa.SumReserved = sums.rows, sums.from, sums.to, sums.sumOnHand, sums.sumReserved
	for _, f := range sa.Files {
		sa.Bytes += f.Bytes
	}
	return sa, nil
}

// eligibleWhere is the WHERE clause of a shard's eligible rows within a seq range; its arguments
// come from eligibleArgs.
func eligibleWhere(partitions int) string {
	return "FROM changes WHERE seq >= ? AND seq <= ? AND seq < ? AND created_at < ? AND partition_id IN (" +
		strings.TrimSuffix(strings.Repeat("?,", partitions), ",") + ")"
}

func eligibleArgs(sa ShardArchive, from, to uint64) []any {
	args := []any{from, to, sa.SeqBelow, sa.Cutoff}
	for _, p := range sa.Partitions {
		args = append(args, p)
	}
	return args
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
		prevTo = f.ToSeq
		var n, sumOH, sumRS int64
		if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*), COALESCE(SUM(delta_on_hand), 0), COALESCE(SUM(delta_reserved), 0) "+
			eligibleWhere(len(sa.Partitions)), eligibleArgs(sa, f.FromSeq, f.ToSeq)...).Scan(&n, &sumOH, &sumRS); err != nil {
			return err
		}
		if n != f.Rows || sumOH != f.SumOnHand || sumRS != f.SumReserved {
			return fmt.Errorf("file %s: the shard holds %d rows (sums %d, %d) in its range, the file %d (sums %d, %d)",
				f.Path, n, sumOH, sumRS, f.Rows, f.SumOnHand, f.SumReserved)
		}
		total += f.Rows
	}
	if total != man.Rows {
		return fmt.Errorf("files hold %d rows, the manifest says %d", total, man.Rows)
	}
	return nil
}

type queryer interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// readChanges runs a query selecting changeColumns and returns the rows.
func readChanges(ctx context.Context, db queryer, shardName, q string, args ...any) ([]ArchivedChange, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ArchivedChange
	for rows.Next() {
		c := ArchivedChange{Shard: shardName}
		var originShard sql.NullString
		var originSeq sql.NullInt64
		if err := rows.Scan(&c.Seq, &c.PartitionID, &c.SKU, &c.Kind, &c.DeltaOnHand, &c.DeltaReserved, &c.Ref, &c.CreatedAt,
			&originShard, &originSeq); err != nil {
			return nil, err
		}
		c.CreatedAt = c.CreatedAt.UTC()
		if originShard.Valid {
			c.OriginShard = &originShard.String
		}
		if originSeq.Valid {
			v := uint64(originSeq.Int64)
			c.OriginSeq = &v
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
