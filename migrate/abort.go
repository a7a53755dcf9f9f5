package migrate

import (
	"context"
	"fmt"

	"github.com/shardstock/shardstock/inventory"
)

// Abort rolls a job back before its cutover: copied rows are deleted from the targets, their
// fences removed, source fences restored, added shards dropped from the topology. A job with
// partitions already cut over cannot be aborted (resume it, then reshard back).
func (r *Resharder) Abort(ctx context.Context, id int64) (Job, error) {
	job, err := LoadJob(ctx, r.meta, id)
	if err != nil {
		return Job{}, err
	}
	if job.State == inventory.JobDone || job.State == inventory.JobAborted {
		return job, fmt.Errorf("job %d is already %s", id, job.State)
	}
	if err := adoptLegacySpec(ctx, r.meta, &job); err != nil {
		return job, err
	}
	if err := r.refuseAfterCutover(ctx, &job); err != nil {
		return job, err
	}
	bySource := map[string][]int{}
	for i := range job.Moves {
		m := &job.Moves[i]
		bySource[m.From] = append(bySource[m.From], m.Partition)
		if m.State != inventory.MovePending {
			if err := r.dropImport(ctx, m.To, m.Partition); err != nil {
				return job, err
			}
		}
		m.State = inventory.MoveAborted
		if err := r.saveMove(ctx, &job, *m); err != nil {
			return job, err
		}
	}
	for from, ps := range bySource {
		st, err := r.store(from)
		if err != nil {
			return job, err
		}
		if err := st.Mover().SetFences(ctx, inventory.FenceOwned, ps); err != nil {
			return job, err
		}
	}
	for _, a := range job.Spec.Add {
		if err := r.meta.SetShardState(ctx, a.Name, inventory.ShardRemoved); err != nil {
			return job, err
		}
	}
	if err := r.meta.Jobs().SetJobState(ctx, job.ID, inventory.JobAborted, ""); err != nil {
		return job, err
	}
	return LoadJob(ctx, r.meta, id)
}

// refuseAfterCutover fails when any of the job's partitions was cut over already.
func (r *Resharder) refuseAfterCutover(ctx context.Context, job *Job) error {
	top, err := r.meta.Load(ctx)
	if err != nil {
		return err
	}
	done := 0
	for _, m := range job.Moves {
		if owner, _ := top.Map.Owner(m.Partition); m.State == inventory.MoveDone || owner == m.To {
			done++
		}
	}
	if done > 0 {
		return fmt.Errorf("job %d has already cut over %d partition(s); abort is only possible before cutover: run `reshard resume` to finish it", job.ID, done)
	}
	return nil
}

// dropImport deletes a partition's copied rows from its target and its import fence.
func (r *Resharder) dropImport(ctx context.Context, target string, partition int) error {
	st, err := r.store(target)
	if err != nil {
		return err
	}
	if _, err := st.Mover().PurgePartition(ctx, partition, 5000); err != nil {
		return err
	}
	return st.Mover().DropFence(ctx, partition)
}
