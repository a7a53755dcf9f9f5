package migrate

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/shardstock/shardstock/inventory"
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
// The Resharder holds the connections and the entry points (plan.go, abort.go, cleanup.go;
// job.go is the persisted state); each Run hands the job to a jobRun, whose steps live one per
// file: copy.go, catchup.go, cutover.go.
type Resharder struct {
	meta   *shard.Meta
	opts   ReshardOptions
	mu     sync.Mutex
	stores map[string]*shard.Store
}

// jobRun is one run of a job: the steps that take it from where it stands to done (copy.go,
// catchup.go, cutover.go), over the Resharder's connections. Run builds one per call.
type jobRun struct {
	r      *Resharder
	job    *Job
	copied atomic.Int64 // rows copied in this job so far (progress)
}

// NewResharder connects to the metadata store.
func NewResharder(metaDSN string, opts ReshardOptions) (*Resharder, error) {
	opts.defaults()
	meta, err := shard.OpenMeta(metaDSN)
	if err != nil {
		return nil, err
	}
	return &Resharder{meta: meta, opts: opts, stores: map[string]*shard.Store{}}, nil
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
	top, err := r.meta.Load(context.Background())
	if err != nil {
		return nil, err
	}
	info, ok := top.Shards[name]
	if !ok {
		return nil, fmt.Errorf("unknown shard %q", name)
	}
	dsn := info.DSN
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

// progress reports the job's figures at a phase (no copy worker may be running).
func (j *jobRun) progress(phase string) {
	if j.r.opts.OnProgress != nil {
		j.report(phase, j.job.Summary())
	}
}

// report sends p, with the rows copied so far, to OnProgress.
func (j *jobRun) report(phase string, p Progress) {
	if j.r.opts.OnProgress == nil {
		return
	}
	p.RowsCopied = j.copied.Load()
	j.r.opts.OnProgress(phase, p)
}

// saveMove persists a move's state and progress.
func (r *Resharder) saveMove(ctx context.Context, job *Job, m shard.Move) error {
	return r.meta.Jobs().UpdateMove(ctx, job.ID, m)
}

// Create plans the change and persists it as a new job (one active job at a time).
func (r *Resharder) Create(ctx context.Context, add []ShardSpec, remove []string) (Job, error) {
	for _, a := range add {
		if err := shard.EnsureDatabase(ctx, a.DSN); err != nil {
			return Job{}, fmt.Errorf("new shard %s: %w", a.Name, err)
		}
		if err := shard.MigrateUp(ctx, a.DSN, shard.StoreSchema); err != nil {
			return Job{}, fmt.Errorf("migrate new shard %s: %w", a.Name, err)
		}
	}
	plan, err := r.Plan(ctx, add, remove)
	if err != nil {
		return Job{}, err
	}
	spec := JobSpec{Add: add, Remove: remove, Parallel: r.opts.Parallel, MaxRowsPerSec: r.opts.MaxRowsPerSec,
		CutoverBatch: r.opts.CutoverBatch, TargetOwners: plan.target.Owners, FromPartitions: plan.Partitions}
	id, err := createJob(ctx, r.meta, plan, spec)
	if err != nil {
		return Job{}, err
	}
	return LoadJob(ctx, r.meta, id)
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
	job, err := LoadJob(ctx, r.meta, id)
	if err != nil {
		return Job{}, err
	}
	switch job.State {
	case inventory.JobDone:
		return job, nil
	case inventory.JobAborted:
		return job, fmt.Errorf("job %d was aborted", id)
	}
	if err := adoptLegacySpec(ctx, r.meta, &job); err != nil {
		return job, err
	}
	if err := r.meta.Jobs().SetJobState(ctx, id, inventory.JobRunning, ""); err != nil {
		return job, err
	}
	err = (&jobRun{r: r, job: &job}).run(ctx)
	if err != nil {
		if ctx.Err() == nil {
			_ = r.meta.Jobs().SetJobState(context.WithoutCancel(ctx), id, inventory.JobRunning, err.Error())
		}
		return job, err
	}
	return LoadJob(ctx, r.meta, id)
}

// run takes a job through its steps; each one skips what an earlier run finished.
func (j *jobRun) run(ctx context.Context) error {
	log := j.r.opts.Log.With("job", j.job.ID)
	// 1. New shards get the schema and join the topology (owning nothing yet).
	if err := j.joinNewShards(ctx); err != nil {
		return err
	}
	// A crash after publishing a batch leaves its moves unmarked: the map is the truth. Such a
	// partition now takes writes on its target, so it must never be copied or caught up again.
	if err := j.markPublished(ctx); err != nil {
		return err
	}
	j.copied.Store(0)
	for _, m := range j.job.Moves {
		j.copied.Add(m.RowsCopied)
	}
	// 2. Targets: fence importing and clear leftovers of an earlier era.
	if err := j.prepareTargets(ctx); err != nil {
		return err
	}
	j.progress("importing")
	// 3. Copy, in parallel.
	log.Info("copying", "partitions", len(j.job.Moves), "parallel", j.r.opts.Parallel)
	if err := j.copyMoves(ctx); err != nil {
		return err
	}
	j.progress("catchup")
	// 4. Catch up from the change log until the lag is small.
	if err := j.catchUpRounds(ctx); err != nil {
		return err
	}
	j.progress("cutover")
	// 5. Cut over in small batches.
	if err := j.cutoverAll(ctx); err != nil {
		return err
	}
	// 6. Removed shards leave the topology.
	if err := j.retireRemoved(ctx); err != nil {
		return err
	}
	if err := j.r.meta.Jobs().SetJobState(ctx, j.job.ID, inventory.JobDone, ""); err != nil {
		return err
	}
	j.job.State = inventory.JobDone
	j.progress("done")
	log.Info("resharding done", "partitions", len(j.job.Moves))
	return nil
}

// joinNewShards migrates the job's new shards (registered, active and owning nothing, since the
// job was created).
func (j *jobRun) joinNewShards(ctx context.Context) error {
	if len(j.job.Spec.Add) == 0 {
		return nil
	}
	top, err := j.r.meta.Load(ctx)
	if err != nil {
		return err
	}
	for _, a := range j.job.Spec.Add {
		info, ok := top.Shards[a.Name]
		if !ok {
			return fmt.Errorf("new shard %s is not in the shard registry", a.Name)
		}
		if err := shard.MigrateUp(ctx, info.DSN, shard.StoreSchema); err != nil {
			return fmt.Errorf("migrate new shard %s: %w", a.Name, err)
		}
	}
	return nil
}

// retireRemoved marks the job's removed shards removed once they own no partition.
func (j *jobRun) retireRemoved(ctx context.Context) error {
	top, err := j.r.meta.Load(ctx)
	if err != nil {
		return err
	}
	owners := map[string]bool{}
	for _, o := range top.Map.Owners {
		owners[o] = true
	}
	for _, name := range j.job.Spec.Remove {
		if !owners[name] {
			if err := j.r.meta.SetShardState(ctx, name, inventory.ShardRemoved); err != nil {
				return err
			}
		}
	}
	return nil
}
