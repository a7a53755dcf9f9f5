package migrate

import (
	"context"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// The cutover, in small batches of partitions: source fences → moved_out (waiting for in-flight
// writes), final catch-up, checksums source vs target, target fences → owned, publish the next
// topology version. Gateways hold requests for these partitions meanwhile and retry on the new
// owner. A batch whose checks fail gets its source fences back and stops the job.

// cutoverAll cuts over every move not done yet, CutoverBatch partitions at a time.
func (j *jobRun) cutoverAll(ctx context.Context) error {
	var pending []*shard.Move
	for i := range j.job.Moves {
		if j.job.Moves[i].State != inventory.MoveDone {
			pending = append(pending, &j.job.Moves[i])
		}
	}
	for start := 0; start < len(pending); start += j.r.opts.CutoverBatch {
		batch := pending[start:min(start+j.r.opts.CutoverBatch, len(pending))]
		if err := j.cutover(ctx, batch); err != nil {
			return err
		}
		j.progress("cutover")
	}
	return nil
}

// markPublished marks done the moves whose partition the published map already gives to the
// target (a crash after publishing a batch leaves them unmarked).
func (j *jobRun) markPublished(ctx context.Context) error {
	top, err := j.r.meta.Load(ctx)
	if err != nil {
		return err
	}
	for i := range j.job.Moves {
		m := &j.job.Moves[i]
		if owner, _ := top.Map.Owner(m.Partition); m.State != inventory.MoveDone && owner == m.To {
			m.State = inventory.MoveDone
			if err := j.r.saveMove(ctx, j.job, *m); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutover moves one batch of partitions to their targets.
func (j *jobRun) cutover(ctx context.Context, batch []*shard.Move) error {
	start := time.Now()
	bySource := map[string][]int{}
	byTarget := map[string][]int{}
	for _, m := range batch {
		bySource[m.From] = append(bySource[m.From], m.Partition)
		byTarget[m.To] = append(byTarget[m.To], m.Partition)
	}
	if err := j.setFences(ctx, bySource, inventory.FenceMovedOut); err != nil {
		return err
	}
	if err := j.r.failpoint("fence_flipped"); err != nil {
		return err
	}
	// Final catch-up, key tables and checksums, for every partition of the batch in parallel:
	// this is the write pause, so it must be short.
	err := j.eachMove(ctx, batch, func(ctx context.Context, m *shard.Move) error { return j.finalSync(ctx, m) })
	if err != nil {
		return j.revert(ctx, bySource, err)
	}
	if err := j.setFences(ctx, byTarget, inventory.FenceOwned); err != nil {
		return j.revert(ctx, bySource, err)
	}
	if err := j.publish(ctx, batch); err != nil {
		return err
	}
	if err := j.r.failpoint("topology_published"); err != nil {
		return err
	}
	pause := int(time.Since(start).Milliseconds())
	for _, m := range batch {
		m.State, m.PauseMillis = inventory.MoveDone, pause
		if err := j.r.saveMove(ctx, j.job, *m); err != nil {
			return err
		}
	}
	j.r.opts.Log.Info("cutover batch done", "job", j.job.ID, "partitions", len(batch), "pause_ms", pause)
	return nil
}

// setFences sets the fences of the partitions on each shard to state.
func (j *jobRun) setFences(ctx context.Context, byShard map[string][]int, state inventory.FenceState) error {
	for name, ps := range byShard {
		st, err := j.r.store(name)
		if err != nil {
			return err
		}
		if err := st.Mover().SetFences(ctx, state, ps); err != nil {
			if state == inventory.FenceMovedOut {
				return fmt.Errorf("fence %s moved_out: %w", name, err)
			}
			return err
		}
	}
	return nil
}

// revert gives the sources back the batch's partitions that the map still gives them (their
// fences owned again) and returns cause.
func (j *jobRun) revert(ctx context.Context, bySource map[string][]int, cause error) error {
	rctx := context.WithoutCancel(ctx)
	top, terr := j.r.meta.Load(rctx)
	for from, ps := range bySource {
		var back []int
		for _, p := range ps {
			if owner, _ := top.Map.Owner(p); terr == nil && owner == from {
				back = append(back, p)
			}
		}
		if st, err := j.r.store(from); err == nil && len(back) > 0 {
			_ = st.Mover().SetFences(rctx, inventory.FenceOwned, back)
		}
	}
	return cause
}

// finalSync brings one fenced partition's target exactly level with its source and proves it.
func (j *jobRun) finalSync(ctx context.Context, m *shard.Move) error {
	if _, err := j.catchUpMove(ctx, m, true); err != nil {
		return err
	}
	pm, err := j.mover(m, nil)
	if err != nil {
		return err
	}
	for _, t := range shard.UnloggedTables() {
		if _, err := pm.copyTable(ctx, t); err != nil {
			return fmt.Errorf("partition %d: %w", m.Partition, err)
		}
	}
	a, err := pm.src.Mover().Checksum(ctx, m.Partition, m.From)
	if err != nil {
		return err
	}
	b, err := pm.dst.Mover().Checksum(ctx, m.Partition, m.From)
	if err != nil {
		return err
	}
	if d := a.Diff(b); len(d) > 0 {
		return fmt.Errorf("partition %d: checksum mismatch %s → %s: %v", m.Partition, m.From, m.To, d)
	}
	return nil
}

// publish writes the next topology version with the batch's partitions on their targets
// (nothing when an earlier attempt already published them).
func (j *jobRun) publish(ctx context.Context, batch []*shard.Move) error {
	for attempt := 0; attempt < 5; attempt++ {
		top, err := j.r.meta.Load(ctx)
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
		if _, err := j.r.meta.PublishMap(ctx, top.Version, mp, fmt.Sprintf("reshard: %d partitions", len(batch))); err == nil {
			return nil
		} else if attempt == 4 {
			return err
		}
	}
	return nil
}
