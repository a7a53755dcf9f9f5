package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// ReshardOptions tune a resharding run.
type ReshardOptions struct {
	Parallel      int // partitions copied (and finally synced at cutover) at once (default 8)
	MaxRowsPerSec int // copy rate limit over all workers; 0 = unlimited
	CutoverBatch  int // partitions cut over together (default 8)
	ChunkRows     int // rows per copy statement (default 1000)
	// CatchUpLag ends the catch-up rounds when a round replays fewer change rows than this.
	CatchUpLag int
	Log        *slog.Logger
	// OnProgress, when set, receives the job's figures about twice a second and at each phase.
	OnProgress func(phase string, p Progress)
	// Failpoint lets tests stop the mover after a phase, as if the process died there:
	// plan_saved, mid_copy, mid_catchup, fence_flipped, topology_published.
	Failpoint func(step string) error
}

func (o *ReshardOptions) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.CutoverBatch <= 0 {
		o.CutoverBatch = 8
	}
	if o.ChunkRows <= 0 {
		o.ChunkRows = 1000
	}
	if o.CatchUpLag <= 0 {
		o.CatchUpLag = 500
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Resharder runs resharding jobs: the online mover of ARCHITECTURE.md. Every step is
// idempotent and its progress persisted, so Run resumes a job from wherever a crash left it.
type Resharder struct {
	meta   *shard.Meta
	js     jobStore
	opts   ReshardOptions
	mu     sync.Mutex
	stores map[string]*shard.Store
	dsns   map[string]string
	copied atomic.Int64
}

// NewResharder connects to the metadata store.
func NewResharder(metaDSN string, opts ReshardOptions) (*Resharder, error) {
	opts.defaults()
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return nil, err
	}
	return &Resharder{meta: meta, js: jobStore{meta.DB()}, opts: opts, stores: map[string]*shard.Store{}, dsns: map[string]string{}}, nil
}

// Close closes every connection.
func (r *Resharder) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, st := range r.stores {
		st.Close()
	}
	r.meta.Close()
}

// Meta exposes the metadata store.
func (r *Resharder) Meta() *shard.Meta { return r.meta }

// store returns a pool for the named shard (from the topology or the job's added shards).
func (r *Resharder) store(name string) (*shard.Store, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.stores[name]; ok {
		return st, nil
	}
	dsn, ok := r.dsns[name]
	if !ok {
		top, err := r.meta.Load(context.Background())
		if err != nil {
			return nil, err
		}
		info, ok := top.Shards[name]
		if !ok {
			return nil, fmt.Errorf("unknown shard %q", name)
		}
		dsn = info.DSN
	}
	st, err := shard.Open(name, dsn, shard.PoolOptions{MaxOpen: 2*r.opts.Parallel + 4})
	if err != nil {
		return nil, err
	}
	r.stores[name] = st
	return st, nil
}

func (r *Resharder) failpoint(step string) error {
	if r.opts.Failpoint == nil {
		return nil
	}
	if err := r.opts.Failpoint(step); err != nil {
		return fmt.Errorf("failpoint %s: %w", step, err)
	}
	return nil
}

// Create plans the change and persists it as a new job (one active job at a time).
func (r *Resharder) Create(ctx context.Context, add []ShardSpec, remove []string) (Job, error) {
	for _, a := range add {
		if err := EnsureDatabase(ctx, a.DSN); err != nil {
			return Job{}, fmt.Errorf("new shard %s: %w", a.Name, err)
		}
		if err := Up(ctx, a.DSN, ShardSchema); err != nil {
			return Job{}, fmt.Errorf("migrate new shard %s: %w", a.Name, err)
		}
		r.mu.Lock()
		r.dsns[a.Name] = a.DSN
		r.mu.Unlock()
	}
	plan, err := r.Plan(ctx, add, remove)
	if err != nil {
		return Job{}, err
	}
	spec := JobSpec{Add: add, Remove: remove, Parallel: r.opts.Parallel, MaxRowsPerSec: r.opts.MaxRowsPerSec,
		CutoverBatch: r.opts.CutoverBatch, TargetOwners: plan.target.Owners, FromPartitions: plan.Partitions}
	moves := make([]router.Move, len(plan.Moves))
	est := map[int]int64{}
	for i, m := range plan.Moves {
		moves[i] = router.Move{Partition: m.Partition, From: m.From, To: m.To}
		est[m.Partition] = m.Rows
	}
	id, err := r.js.create(ctx, plan.FromVersion, spec, moves, est)
	if err != nil {
		return Job{}, err
	}
	return r.js.load(ctx, id)
}

// Start creates a job and runs it to completion.
func (r *Resharder) Start(ctx context.Context, add []ShardSpec, remove []string) (Job, error) {
	job, err := r.Create(ctx, add, remove)
	if err != nil {
		return Job{}, err
	}
	if err := r.failpoint("plan_saved"); err != nil {
		return job, err
	}
	return r.Run(ctx, job.ID)
}

// Run runs (or resumes) job id to completion.
func (r *Resharder) Run(ctx context.Context, id int64) (Job, error) {
	job, err := r.js.load(ctx, id)
	if err != nil {
		return Job{}, err
	}
	switch job.State {
	case inventory.JobDone:
		return job, nil
	case inventory.JobAborted:
		return job, fmt.Errorf("job %d was aborted", id)
	}
	for _, a := range job.Spec.Add {
		r.mu.Lock()
		r.dsns[a.Name] = a.DSN
		r.mu.Unlock()
	}
	if err := r.js.setJobState(ctx, id, inventory.JobRunning, ""); err != nil {
		return job, err
	}
	err = r.run(ctx, &job)
	if err != nil {
		if ctx.Err() == nil {
			_ = r.js.setJobState(context.WithoutCancel(ctx), id, inventory.JobRunning, err.Error())
		}
		return job, err
	}
	return r.js.load(ctx, id)
}

func (r *Resharder) progress(phase string, job *Job) {
	if r.opts.OnProgress == nil {
		return
	}
	p := job.Summary()
	p.RowsCopied = r.copied.Load()
	r.opts.OnProgress(phase, p)
}

func (r *Resharder) run(ctx context.Context, job *Job) error {
	log := r.opts.Log.With("job", job.ID)
	// 1. New shards get the schema and join the topology (owning nothing yet).
	for _, a := range job.Spec.Add {
		if err := Up(ctx, a.DSN, ShardSchema); err != nil {
			return fmt.Errorf("migrate new shard %s: %w", a.Name, err)
		}
		if err := r.js.upsertShard(ctx, a, inventory.ShardActive); err != nil {
			return err
		}
	}
	// A crash after publishing a batch leaves its moves unmarked: the map is the truth. Such a
	// partition now takes writes on its target, so it must never be copied or caught up again.
	if err := r.markPublished(ctx, job); err != nil {
		return err
	}
	r.copied.Store(0)
	for _, m := range job.Moves {
		r.copied.Add(m.RowsCopied)
	}
	// 2. Targets: fence importing and clear leftovers of an earlier era.
	if err := r.prepareTargets(ctx, job); err != nil {
		return err
	}
	r.progress("importing", job)
	// 3. Copy, in parallel.
	log.Info("copying", "partitions", len(job.Moves), "parallel", r.opts.Parallel)
	if err := r.copyMoves(ctx, job); err != nil {
		return err
	}
	r.progress("catchup", job)
	// 4. Catch up from the change log until the lag is small.
	for round := 0; round < 20; round++ {
		n, err := r.catchUpAll(ctx, job)
		if err != nil {
			return err
		}
		if err := r.failpoint("mid_catchup"); err != nil {
			return err
		}
		if n < int64(r.opts.CatchUpLag) {
			break
		}
	}
	r.progress("cutover", job)
	// 5. Cut over in small batches.
	var pending []*MoveState
	for i := range job.Moves {
		if job.Moves[i].State != inventory.MoveDone {
			pending = append(pending, &job.Moves[i])
		}
	}
	for start := 0; start < len(pending); start += r.opts.CutoverBatch {
		batch := pending[start:min(start+r.opts.CutoverBatch, len(pending))]
		if err := r.cutover(ctx, job, batch); err != nil {
			return err
		}
		r.progress("cutover", job)
	}
	// 6. Removed shards leave the topology.
	top, err := r.meta.Load(ctx)
	if err != nil {
		return err
	}
	owners := map[string]bool{}
	for _, o := range top.Map.Owners {
		owners[o] = true
	}
	for _, name := range job.Spec.Remove {
		if !owners[name] {
			if err := r.js.setShardState(ctx, name, inventory.ShardRemoved); err != nil {
				return err
			}
		}
	}
	if err := r.js.setJobState(ctx, job.ID, inventory.JobDone, ""); err != nil {
		return err
	}
	job.State = inventory.JobDone
	r.progress("done", job)
	log.Info("resharding done", "partitions", len(job.Moves))
	return nil
}

func (r *Resharder) markPublished(ctx context.Context, job *Job) error {
	top, err := r.meta.Load(ctx)
	if err != nil {
		return err
	}
	for i := range job.Moves {
		m := &job.Moves[i]
		if owner, _ := top.Map.Owner(m.Partition); m.State != inventory.MoveDone && owner == m.To {
			m.State = inventory.MoveDone
			if err := r.js.updateMove(ctx, job.ID, *m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Resharder) prepareTargets(ctx context.Context, job *Job) error {
	byTarget := map[string][]*MoveState{}
	for i := range job.Moves {
		if job.Moves[i].State == inventory.MovePending {
			byTarget[job.Moves[i].To] = append(byTarget[job.Moves[i].To], &job.Moves[i])
		}
	}
	for to, ms := range byTarget {
		st, err := r.store(to)
		if err != nil {
			return err
		}
		ps := make([]int, len(ms))
		for i, m := range ms {
			ps[i] = m.Partition
		}
		if err := st.SetFences(ctx, inventory.FenceImporting, ps); err != nil {
			return fmt.Errorf("fence %s importing: %w", to, err)
		}
		dirty, err := partitionsWithRows(ctx, st.DB(), ps)
		if err != nil {
			return fmt.Errorf("shard %s: %w", to, err)
		}
		for _, m := range ms {
			if dirty[m.Partition] {
				if _, err := purgePartition(ctx, st.DB(), m.Partition, 5000); err != nil {
					return fmt.Errorf("clear partition %d on %s: %w", m.Partition, to, err)
				}
			}
			m.State = inventory.MoveImporting
			if err := r.js.updateMove(ctx, job.ID, *m); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *Resharder) limiter(job *Job) *rate.Limiter {
	if job.Spec.MaxRowsPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(job.Spec.MaxRowsPerSec), max(job.Spec.MaxRowsPerSec/10, r.opts.ChunkRows))
}

func (r *Resharder) mover(job *Job, m *MoveState, lim *rate.Limiter) (*partitionMover, error) {
	src, err := r.store(m.From)
	if err != nil {
		return nil, err
	}
	dst, err := r.store(m.To)
	if err != nil {
		return nil, err
	}
	return &partitionMover{src: src.DB(), dst: dst.DB(), srcName: m.From, partition: m.Partition, chunk: r.opts.ChunkRows,
		limiter: lim, copied: func(n int) { r.copied.Add(int64(n)) }}, nil
}

func (r *Resharder) copyMoves(ctx context.Context, job *Job) error {
	lim := r.limiter(job)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r.progress("copy", job)
			}
		}
	}()
	var mu sync.Mutex
	var copiedOne atomic.Bool
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for i := range job.Moves {
		m := &job.Moves[i]
		if m.State != inventory.MoveImporting {
			continue
		}
		g.Go(func() error {
			pm, err := r.mover(job, m, lim)
			if err != nil {
				return err
			}
			wm, err := syncPoint(gctx, pm.src, m.Partition)
			if err != nil {
				return fmt.Errorf("partition %d: watermark: %w", m.Partition, err)
			}
			n, err := pm.copyAll(gctx, wm)
			if err != nil {
				return fmt.Errorf("partition %d: copy %s → %s: %w", m.Partition, m.From, m.To, err)
			}
			mu.Lock()
			m.State, m.Watermark, m.CaughtUp, m.RowsCopied = inventory.MoveCopied, wm, wm, n
			snapshot := *m
			mu.Unlock()
			if err := r.js.updateMove(gctx, job.ID, snapshot); err != nil {
				return err
			}
			if !copiedOne.Swap(true) {
				return r.failpoint("mid_copy")
			}
			return nil
		})
	}
	return g.Wait()
}

// catchUpAll replays every copied move's change log up to a fresh sync point; it returns the
// number of change rows replayed.
func (r *Resharder) catchUpAll(ctx context.Context, job *Job) (int64, error) {
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for i := range job.Moves {
		m := &job.Moves[i]
		if m.State != inventory.MoveCopied {
			continue
		}
		g.Go(func() error {
			n, err := r.catchUpMove(gctx, job, m, false)
			total.Add(n)
			return err
		})
	}
	err := g.Wait()
	return total.Load(), err
}

// catchUpMove replays one move's change log up to a sync point. A non-final pass first looks,
// without any lock, whether the partition has anything new at all and skips it otherwise; the
// final pass (under the cutover fence) always takes the sync point.
func (r *Resharder) catchUpMove(ctx context.Context, job *Job, m *MoveState, final bool) (int64, error) {
	pm, err := r.mover(job, m, nil)
	if err != nil {
		return 0, err
	}
	if !final {
		var newest uint64
		if err := pm.src.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM changes WHERE partition_id = ?", m.Partition).Scan(&newest); err != nil {
			return 0, err
		}
		if newest <= m.CaughtUp {
			return 0, nil
		}
	}
	to, err := syncPoint(ctx, pm.src, m.Partition)
	if err != nil {
		return 0, err
	}
	if to <= m.CaughtUp {
		return 0, nil
	}
	n, err := pm.catchUp(ctx, m.CaughtUp, to)
	if err != nil {
		return n, fmt.Errorf("partition %d: catch-up: %w", m.Partition, err)
	}
	m.CaughtUp = to
	return n, r.js.updateMove(ctx, job.ID, *m)
}

// cutover moves a batch of partitions: fence the sources (waiting for in-flight writes), final
// catch-up, checksums, own on the targets, publish the topology. Gateways hold requests for
// these partitions meanwhile and retry on the new owner.
func (r *Resharder) cutover(ctx context.Context, job *Job, batch []*MoveState) error {
	start := time.Now()
	bySource := map[string][]int{}
	byTarget := map[string][]int{}
	for _, m := range batch {
		bySource[m.From] = append(bySource[m.From], m.Partition)
		byTarget[m.To] = append(byTarget[m.To], m.Partition)
	}
	for from, ps := range bySource {
		st, err := r.store(from)
		if err != nil {
			return err
		}
		if err := st.SetFences(ctx, inventory.FenceMovedOut, ps); err != nil {
			return fmt.Errorf("fence %s moved_out: %w", from, err)
		}
	}
	if err := r.failpoint("fence_flipped"); err != nil {
		return err
	}
	revert := func(cause error) error {
		rctx := context.WithoutCancel(ctx)
		top, terr := r.meta.Load(rctx)
		for from, ps := range bySource {
			var back []int
			for _, p := range ps {
				if owner, _ := top.Map.Owner(p); terr == nil && owner == from {
					back = append(back, p)
				}
			}
			if st, err := r.store(from); err == nil && len(back) > 0 {
				_ = st.SetFences(rctx, inventory.FenceOwned, back)
			}
		}
		return cause
	}
	// Final catch-up, key tables and checksums, for every partition of the batch in parallel:
	// this is the write pause, so it must be short.
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Parallel)
	for _, m := range batch {
		g.Go(func() error { return r.finalSync(gctx, job, m) })
	}
	if err := g.Wait(); err != nil {
		return revert(err)
	}
	for to, ps := range byTarget {
		st, err := r.store(to)
		if err != nil {
			return revert(err)
		}
		if err := st.SetFences(ctx, inventory.FenceOwned, ps); err != nil {
			return revert(err)
		}
	}
	if err := r.publish(ctx, batch); err != nil {
		return err
	}
	if err := r.failpoint("topology_published"); err != nil {
		return err
	}
	pause := int(time.Since(start).Milliseconds())
	for _, m := range batch {
		m.State, m.PauseMillis = inventory.MoveDone, pause
		if err := r.js.updateMove(ctx, job.ID, *m); err != nil {
			return err
		}
	}
	r.opts.Log.Info("cutover batch done", "job", job.ID, "partitions", len(batch), "pause_ms", pause)
	return nil
}

// finalSync brings one fenced partition's target exactly level with its source and proves it.
func (r *Resharder) finalSync(ctx context.Context, job *Job, m *MoveState) error {
	if _, err := r.catchUpMove(ctx, job, m, true); err != nil {
		return err
	}
	pm, err := r.mover(job, m, nil)
	if err != nil {
		return err
	}
	for _, t := range []string{"idempotency_keys", "applied_requests"} {
		if _, err := pm.copyTable(ctx, tableByName(t)); err != nil {
			return fmt.Errorf("partition %d: %w", m.Partition, err)
		}
	}
	a, err := checksumPartition(ctx, pm.src, m.Partition, m.From)
	if err != nil {
		return err
	}
	b, err := checksumPartition(ctx, pm.dst, m.Partition, m.From)
	if err != nil {
		return err
	}
	if d := a.diff(b); len(d) > 0 {
		return fmt.Errorf("partition %d: checksum mismatch %s → %s: %v", m.Partition, m.From, m.To, d)
	}
	return nil
}

// publish writes the next topology version with the batch's partitions on their targets
// (nothing when an earlier attempt already published them).
func (r *Resharder) publish(ctx context.Context, batch []*MoveState) error {
	for attempt := 0; attempt < 5; attempt++ {
		top, err := r.meta.Load(ctx)
		if err != nil {
			return err
		}
		mp := router.Map{Owners: append([]string(nil), top.Map.Owners...)}
		changed := false
		for _, m := range batch {
			if mp.Owners[m.Partition] != m.To {
				mp.Owners[m.Partition] = m.To
				changed = true
			}
		}
		if !changed {
			return nil
		}
		if _, err := r.meta.PublishMap(ctx, top.Version, mp, fmt.Sprintf("reshard: %d partitions", len(batch))); err == nil {
			return nil
		} else if attempt == 4 {
			return err
		}
	}
	return nil
}

// Abort rolls a job back before its cutover: copied rows are deleted from the targets, their
// fences removed, source fences restored, added shards dropped from the topology. A job with
// partitions already cut over cannot be aborted (resume it, then reshard back).
func (r *Resharder) Abort(ctx context.Context, id int64) (Job, error) {
	job, err := r.js.load(ctx, id)
	if err != nil {
		return Job{}, err
	}
	if job.State == inventory.JobDone || job.State == inventory.JobAborted {
		return job, fmt.Errorf("job %d is already %s", id, job.State)
	}
	for _, a := range job.Spec.Add {
		r.mu.Lock()
		r.dsns[a.Name] = a.DSN
		r.mu.Unlock()
	}
	top, err := r.meta.Load(ctx)
	if err != nil {
		return job, err
	}
	done := 0
	for _, m := range job.Moves {
		if owner, _ := top.Map.Owner(m.Partition); m.State == inventory.MoveDone || owner == m.To {
			done++
		}
	}
	if done > 0 {
		return job, fmt.Errorf("job %d has already cut over %d partition(s); abort is only possible before cutover: run `reshard resume` to finish it", id, done)
	}
	bySource := map[string][]int{}
	for i := range job.Moves {
		m := &job.Moves[i]
		bySource[m.From] = append(bySource[m.From], m.Partition)
		if m.State != inventory.MovePending {
			st, err := r.store(m.To)
			if err != nil {
				return job, err
			}
			if _, err := purgePartition(ctx, st.DB(), m.Partition, 5000); err != nil {
				return job, err
			}
			if _, err := st.DB().ExecContext(ctx, "DELETE FROM partition_fence WHERE partition_id = ? AND state <> 'owned'", m.Partition); err != nil {
				return job, err
			}
		}
		m.State = inventory.MoveAborted
		if err := r.js.updateMove(ctx, job.ID, *m); err != nil {
			return job, err
		}
	}
	for from, ps := range bySource {
		st, err := r.store(from)
		if err != nil {
			return job, err
		}
		if err := st.SetFences(ctx, inventory.FenceOwned, ps); err != nil {
			return job, err
		}
	}
	for _, a := range job.Spec.Add {
		if err := r.js.setShardState(ctx, a.Name, inventory.ShardRemoved); err != nil {
			return job, err
		}
	}
	if err := r.js.setJobState(ctx, job.ID, inventory.JobAborted, ""); err != nil {
		return job, err
	}
	return r.js.load(ctx, id)
}

// CleanupResult reports what Cleanup deleted.
type CleanupResult struct {
	Shard      string `json:"shard"`
	Partitions int    `json:"partitions"`
	Rows       int64  `json:"rows"`
}

// Cleanup deletes, in chunks, the rows that cutovers left behind on shards that no longer own
// their partitions (fence moved_out). The fences stay, so stale writes remain refused.
func (r *Resharder) Cleanup(ctx context.Context) ([]CleanupResult, error) {
	if _, err := ActiveJob(ctx, r.meta); err == nil {
		return nil, errors.New("a resharding job is still active; finish it first")
	} else if !errors.Is(err, ErrNoJob) {
		return nil, err
	}
	top, err := r.meta.Load(ctx)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(top.Shards))
	for n := range top.Shards {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []CleanupResult
	for _, name := range names {
		st, err := r.store(name)
		if err != nil {
			return out, err
		}
		fences, err := st.Fences(ctx)
		if err != nil {
			if top.Shards[name].State == inventory.ShardRemoved {
				continue // a removed shard may be gone already
			}
			return out, err
		}
		res := CleanupResult{Shard: name}
		for p, state := range fences {
			if owner, _ := top.Map.Owner(p); state != inventory.FenceMovedOut || owner == name {
				continue
			}
			n, err := purgePartition(ctx, st.DB(), p, r.opts.ChunkRows)
			res.Rows += n
			if err != nil {
				return append(out, res), err
			}
			res.Partitions++
		}
		out = append(out, res)
	}
	return out, nil
}
