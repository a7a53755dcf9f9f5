package migrate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
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
// consumed it, shard.Sinks.EventLowWatermarks). The newest row of a log is never deleted, so a
// server that recomputes AUTO_INCREMENT from MAX(seq) at restart cannot hand out a seq again.
//
// Resharding: a job's catch-up reads the change rows of its moving partitions, and ledger_base
// moves with a partition by row image, so Archive refuses to start while a job is planned or
// running (ErrReshardActive), and each delete transaction checks again after locking its fences:
// a job's copy of a partition begins by taking the fence exclusively (shard.Mover.SyncPoint), so it either
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

// archiver runs one archive over the shards. The phases live in archive_export.go,
// archive_verify.go and archive_delete.go; the file format in archive_file.go.
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
	release, ok, err := meta.TryArchiveLock(ctx)
	if err != nil {
		return ArchiveReport{}, err
	}
	if !ok {
		return ArchiveReport{}, ErrArchiveRunning
	}
	defer release()
	if err := checkNoActiveJob(ctx, meta); err != nil {
		return ArchiveReport{}, err
	}
	a := &archiver{opts: opts, olderThan: olderThan, meta: meta}
	stores, watermarks, err := a.openShards(ctx)
	defer closeStores(stores)
	if err != nil {
		return ArchiveReport{}, err
	}
	rep := ArchiveReport{Format: ArchiveFormat, StartedAt: start.UTC(), OlderThanSeconds: olderThan.Seconds(),
		DryRun: opts.DryRun, Shards: make([]ShardArchive, len(stores))}
	if !opts.DryRun {
		if a.dir, err = newRunDir(outDir, start); err != nil {
			return rep, err
		}
		rep.Dir = a.dir
	}
	deleting, err := a.phases(ctx, &rep, stores, watermarks)
	rep.finish(start, err)
	if deleting {
		if merr := writeManifest(a.dir, rep); merr != nil && err == nil {
			err = merr
		}
	}
	return rep, err
}

// openShards opens every shard of the topology that is not removed, by name, with its event
// low watermark.
func (a *archiver) openShards(ctx context.Context) ([]*shard.Store, map[string]uint64, error) {
	top, err := a.meta.Load(ctx)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	for name, info := range top.Shards {
		if info.State != inventory.ShardRemoved {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	watermarks, err := a.meta.Sinks().EventLowWatermarks(ctx, names)
	if err != nil {
		return nil, nil, err
	}
	stores := make([]*shard.Store, 0, len(names))
	for _, name := range names {
		st, err := shard.Open(name, top.Shards[name].DSN, shard.PoolOptions{MaxOpen: 4})
		if err != nil {
			return stores, nil, err
		}
		stores = append(stores, st)
	}
	return stores, watermarks, nil
}

func closeStores(stores []*shard.Store) {
	for _, st := range stores {
		st.Close()
	}
}

// newRunDir creates the run directory archive-<start> under outDir and returns its absolute path.
func newRunDir(outDir string, start time.Time) (string, error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(outDir, "archive-"+start.UTC().Format("20060102T150405.000Z"))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return dir, nil
}

// phases runs export, verify and delete over every shard. deleting reports whether the delete
// phase ran: its outcome then goes into the manifest.
func (a *archiver) phases(ctx context.Context, rep *ArchiveReport, stores []*shard.Store, watermarks map[string]uint64) (deleting bool, err error) {
	// 1. Export.
	if err := a.exportAll(ctx, rep, stores, watermarks); err != nil || a.opts.DryRun {
		return false, err
	}
	if err := writeManifest(a.dir, *rep); err != nil {
		return false, err
	}
	// 2. Verify every file of every shard against the manifest as stored, and against the shards.
	man, err := a.verifyAll(ctx, rep, stores)
	if err != nil {
		return false, err
	}
	// 3. Delete.
	return true, a.deleteAll(ctx, rep, stores, man)
}

// finish totals the shards' figures once the run ended with err.
func (rep *ArchiveReport) finish(start time.Time, err error) {
	rep.RowsArchived, rep.RowsDeleted, rep.Bytes = 0, 0, 0
	for _, s := range rep.Shards {
		rep.RowsArchived += s.Rows
		rep.RowsDeleted += s.Deleted
		rep.Bytes += s.Bytes
	}
	rep.Complete = !rep.DryRun && err == nil && rep.RowsDeleted == rep.RowsArchived
	rep.DurationSeconds = time.Since(start).Seconds()
}

// eachShard runs fn for every shard, at most opts.Parallel at once, and joins the failures.
func (a *archiver) eachShard(ctx context.Context, stores []*shard.Store, fn func(ctx context.Context, i int) error) error {
	par := a.opts.Parallel
	if par <= 0 || par > len(stores) {
		par = max(len(stores), 1)
	}
	sem := make(chan struct{}, par)
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			if err := fn(ctx, i); err != nil {
				errs[i] = fmt.Errorf("shard %s: %w", stores[i].Name(), err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// timed runs fn and adds its duration to the shard's time.
func timed(sa *ShardArchive, fn func() error) error {
	t0 := time.Now()
	err := fn()
	sa.DurationSeconds += time.Since(t0).Seconds()
	return err
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

// checkNoActiveJob fails with ErrReshardActive while a resharding job is planned or running.
func checkNoActiveJob(ctx context.Context, meta *shard.Meta) error {
	id, err := meta.Jobs().ActiveJobID(ctx)
	if errors.Is(err, shard.ErrNoJob) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w (job %d)", ErrReshardActive, id)
}
