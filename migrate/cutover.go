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
func (r *Resharder) cutoverAll(ctx context.Context, job *Job) error {
	var pending []*shard.Move
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
	return nil
}

// markPublished marks done the moves whose partition the published map already gives to the
// target (a crash after publishing a batch leaves them unmarked).
func (r *Resharder) markPublished(ctx context.Context, job *Job) error {
	top, err := r.meta.Load(ctx)
	if err != nil {
		return err
	}
	for i := range job.Moves {
		m := &job.Moves[i]
		if owner, _ := top.Map.Owner(m.Partition); m.State != inventory.MoveDone && owner == m.To {
			m.State = inventory.MoveDone
			if err := r.saveMove(ctx, job, *m); err != nil {
				return err
			}
		}
	}
	return nil
}

// cutover moves one batch of partitions to their targets.
func (r *Resharder) cutover(ctx context.Context, job *Job, batch []*shard.Move) error {
	start := time.Now()
	bySource := map[string][]int{}
	byTarget := map[string][]int{}
	for _, m := range batch {
		bySource[m.From] = append(bySource[m.From], m.Partition)
		byTarget[m.To] = append(byTarget[m.To], m.Partition)
	}
	if err := r.setFences(ctx, bySource, inventory.FenceMovedOut); err != nil {
		return err
	}
	if err := r.failpoint("fence_flipped"); err != nil {
		return err
	}
	// Final catch-up, key tables and checksums, for every partition of the batch in parallel:
	// this is the write pause, so it must be short.
	err := r.eachMove(ctx, batch, func(ctx context.Context, m *shard.Move) error { return r.finalSync(ctx, job, m) })
	if err != nil {
		return r.revert(ctx, bySource, err)
	}
	if err := r.setFences(ctx, byTarget, inventory.FenceOwned); err != nil {
		return r.revert(ctx, bySource, err)
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
		if err := r.saveMove(ctx, job, *m); err != nil {
			return err
		}
	}
	r.opts.Log.Info("cutover batch done", "job", job.ID, "partitions", len(batch), "pause_ms", pause)
	return nil
}

// setFences sets the fences of the partitions on each shard to state.
func (r *Resharder) setFences(ctx context.Context, byShard map[string][]int, state inventory.FenceState) error {
	for name, ps := range byShard {
		st, err := r.store(name)
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
func (r *Resharder) revert(ctx context.Context, bySource map[string][]int, cause error) error {
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
			_ = st.Mover().SetFences(rctx, inventory.FenceOwned, back)
		}
	}
	return cause
}

// finalSync brings one fenced partition's target exactly level with its source and proves it.
func (r *Resharder) finalSync(ctx context.Context, job *Job, m *shard.Move) error {
	if _, err := r.catchUpMove(ctx, job, m, true); err != nil {
		return err
	}
	pm, err := r.mover(m, nil)
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
func (r *Resharder) publish(ctx context.Context, batch []*shard.Move) error {
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
