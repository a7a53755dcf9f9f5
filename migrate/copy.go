package migrate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// The copy: targets are fenced importing and cleared, then every moving partition is copied
// from its source as of a sync point (its watermark), many partitions in parallel, in
// primary-key chunks, rate-limited. Every write is an upsert of a row image or an origin-keyed
// change row (shard's mover primitives), so a copy interrupted anywhere is simply run again.

// prepareTargets fences the pending moves' partitions importing on their targets, clears what
// an earlier era left there, and marks the moves importing.
func (j *jobRun) prepareTargets(ctx context.Context) error {
	byTarget := map[string][]*shard.Move{}
	for _, m := range movesIn(j.job, inventory.MovePending) {
		byTarget[m.To] = append(byTarget[m.To], m)
	}
	for to, ms := range byTarget {
		st, err := j.r.store(to)
		if err != nil {
			return err
		}
		ps := make([]int, len(ms))
		for i, m := range ms {
			ps[i] = m.Partition
		}
		if err := st.Mover().SetFences(ctx, inventory.FenceImporting, ps); err != nil {
			return fmt.Errorf("fence %s importing: %w", to, err)
		}
		dirty, err := st.Mover().PartitionsWithRows(ctx, ps)
		if err != nil {
			return fmt.Errorf("shard %s: %w", to, err)
		}
		for _, m := range ms {
			if dirty[m.Partition] {
				if _, err := st.Mover().PurgePartition(ctx, m.Partition, 5000); err != nil {
					return fmt.Errorf("clear partition %d on %s: %w", m.Partition, to, err)
				}
			}
			m.State = inventory.MoveImporting
			if err := j.r.saveMove(ctx, j.job, *m); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyMoves copies every importing move, Parallel at once, reporting progress twice a second.
// mu guards job.Moves between the copy workers, which update their moves, and the reporter,
// which reads them all.
func (j *jobRun) copyMoves(ctx context.Context) error {
	var mu sync.Mutex
	stop := j.reportWhileCopying(func() Progress {
		mu.Lock()
		defer mu.Unlock()
		return j.job.Summary()
	})
	defer stop()
	lim := j.limiter()
	var copiedOne atomic.Bool
	return j.eachMove(ctx, movesIn(j.job, inventory.MoveImporting), func(ctx context.Context, m *shard.Move) error {
		wm, n, err := j.copyMove(ctx, m, lim)
		if err != nil {
			return err
		}
		mu.Lock()
		m.State, m.Watermark, m.CaughtUp, m.RowsCopied = inventory.MoveCopied, wm, wm, n
		snapshot := *m
		mu.Unlock()
		if err := j.r.saveMove(ctx, j.job, snapshot); err != nil {
			return err
		}
		if !copiedOne.Swap(true) {
			return j.r.failpoint("mid_copy")
		}
		return nil
	})
}

// movesIn returns the job's moves in the given state.
func movesIn(job *Job, state inventory.MoveState) []*shard.Move {
	var out []*shard.Move
	for i := range job.Moves {
		if job.Moves[i].State == state {
			out = append(out, &job.Moves[i])
		}
	}
	return out
}

// eachMove runs fn for every move, Parallel at once; the first error cancels the others' ctx
// and is returned.
func (j *jobRun) eachMove(ctx context.Context, moves []*shard.Move, fn func(ctx context.Context, m *shard.Move) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(j.r.opts.Parallel)
	for _, m := range moves {
		g.Go(func() error { return fn(gctx, m) })
	}
	return g.Wait()
}

// reportWhileCopying sends the copy's progress, as summary returns it, twice a second until the
// returned stop is called.
func (j *jobRun) reportWhileCopying(summary func() Progress) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				j.report("copy", summary())
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// copyMove takes the move's sync point on its source and copies the partition up to it; it
// returns the watermark and the rows copied.
func (j *jobRun) copyMove(ctx context.Context, m *shard.Move, lim *rate.Limiter) (uint64, int64, error) {
	pm, err := j.mover(m, lim)
	if err != nil {
		return 0, 0, err
	}
	wm, err := pm.src.Mover().SyncPoint(ctx, m.Partition)
	if err != nil {
		return 0, 0, fmt.Errorf("partition %d: watermark: %w", m.Partition, err)
	}
	n, err := pm.copyAll(ctx, wm)
	if err != nil {
		return 0, 0, fmt.Errorf("partition %d: copy %s → %s: %w", m.Partition, m.From, m.To, err)
	}
	return wm, n, nil
}

// limiter is the job's copy rate limit over all workers (nil: unlimited).
func (j *jobRun) limiter() *rate.Limiter {
	if j.job.Spec.MaxRowsPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(j.job.Spec.MaxRowsPerSec), max(j.job.Spec.MaxRowsPerSec/10, j.r.opts.ChunkRows))
}

// partitionMover copies one partition from a source shard to a target shard.
type partitionMover struct {
	src, dst  *shard.Store
	partition int
	chunk     int
	limiter   *rate.Limiter
	copied    func(n int) // progress callback
}

func (j *jobRun) mover(m *shard.Move, lim *rate.Limiter) (*partitionMover, error) {
	src, err := j.r.store(m.From)
	if err != nil {
		return nil, err
	}
	dst, err := j.r.store(m.To)
	if err != nil {
		return nil, err
	}
	return &partitionMover{src: src, dst: dst, partition: m.Partition, chunk: j.r.opts.ChunkRows,
		limiter: lim, copied: func(n int) { j.copied.Add(int64(n)) }}, nil
}

// wait counts n copied rows and waits for the rate limit.
func (m *partitionMover) wait(ctx context.Context, n int) error {
	if m.copied != nil {
		m.copied(n)
	}
	if m.limiter == nil || n == 0 {
		return nil
	}
	return m.limiter.WaitN(ctx, min(n, m.limiter.Burst()))
}

// copyAll copies the whole partition: every table copied by row image, and the change log up
// to watermark.
func (m *partitionMover) copyAll(ctx context.Context, watermark uint64) (int64, error) {
	var total int64
	for _, t := range shard.CopyTables() {
		n, err := m.copyTable(ctx, t)
		total += n
		if err != nil {
			return total, err
		}
	}
	n, err := m.copyChanges(ctx, 0, watermark, nil)
	return total + n, err
}

// copyTable copies every row of the partition's table in key order, in chunks.
func (m *partitionMover) copyTable(ctx context.Context, t shard.Table) (int64, error) {
	var after shard.Cursor
	return m.inChunks(ctx, func() (n int, err error) {
		n, after, err = m.src.Mover().CopyChunk(ctx, m.dst, t, m.partition, after, m.chunk)
		return n, err
	})
}

// copyChanges copies the change rows with from < seq <= to, in chunks, adding what they name to
// touched (when not nil).
func (m *partitionMover) copyChanges(ctx context.Context, from, to uint64, touched *shard.Touched) (int64, error) {
	return m.inChunks(ctx, func() (n int, err error) {
		n, from, err = m.src.Mover().CopyChanges(ctx, m.dst, m.partition, from, to, m.chunk, touched)
		return n, err
	})
}

// inChunks calls next, which copies one chunk, until a chunk comes back short; every chunk is
// counted and rate-limited. It returns the rows copied.
func (m *partitionMover) inChunks(ctx context.Context, next func() (int, error)) (int64, error) {
	var total int64
	for {
		n, err := next()
		total += int64(n)
		if err != nil || n == 0 {
			return total, err
		}
		if err := m.wait(ctx, n); err != nil {
			return total, err
		}
		if n < m.chunk {
			return total, nil
		}
	}
}
