package migrate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// The state tracker: a job and its moves as persisted in the metadata store (shard.Meta's job
// rows), so that every step can be resumed from wherever a crash left it.

// JobSpec is what a job changes, persisted so that every step can be resumed. It holds no DSN:
// the shards it adds are registered in the metadata store's shard registry when the job is
// created, and their DSNs are read from there.
type JobSpec struct {
	Add            []ShardSpec `json:"add"`
	Remove         []string    `json:"remove"`
	Parallel       int         `json:"parallel"`
	MaxRowsPerSec  int         `json:"max_rows_per_sec"`
	CutoverBatch   int         `json:"cutover_batch"`
	TargetOwners   []string    `json:"target_owners"`
	FromPartitions int         `json:"partitions"`
}

// Job is a resharding job as persisted in the metadata store.
type Job struct {
	ID          int64
	State       inventory.JobState
	FromVersion int64
	Spec        JobSpec
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Moves       []shard.Move // by partition
}

// LoadJob returns job id (0: the latest job), or shard.ErrNoJob.
func LoadJob(ctx context.Context, meta *shard.Meta, id int64) (Job, error) {
	rec, err := meta.Jobs().Job(ctx, id)
	if err != nil {
		return Job{}, err
	}
	j := Job{ID: rec.ID, State: rec.State, FromVersion: rec.FromVersion, Error: rec.Error, CreatedAt: rec.CreatedAt,
		UpdatedAt: rec.UpdatedAt, Moves: rec.Moves}
	if err := json.Unmarshal(rec.Spec, &j.Spec); err != nil {
		return Job{}, fmt.Errorf("job %d: bad spec: %w", j.ID, err)
	}
	return j, nil
}

// createJob persists a planned job: its spec (the added shards by name only), one pending move a
// partition (with the plan's row estimate), and the added shards in the shard registry.
func createJob(ctx context.Context, meta *shard.Meta, plan Plan, spec JobSpec) (int64, error) {
	adds := make([]shard.Info, len(spec.Add))
	names := make([]ShardSpec, len(spec.Add))
	for i, a := range spec.Add {
		adds[i] = shard.Info{Name: a.Name, DSN: a.DSN, State: inventory.ShardActive}
		names[i] = ShardSpec{Name: a.Name}
	}
	spec.Add = names
	data, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	moves := make([]shard.Move, len(plan.Moves))
	for i, m := range plan.Moves {
		moves[i] = shard.Move{Partition: m.Partition, From: m.From, To: m.To, RowsEstimate: m.Rows}
	}
	return meta.Jobs().CreateJob(ctx, plan.FromVersion, data, moves, adds)
}

// adoptLegacySpec moves the DSNs that a spec written by an earlier version holds into the shard
// registry and rewrites the spec without them. A spec without DSNs is left alone.
func adoptLegacySpec(ctx context.Context, meta *shard.Meta, job *Job) error {
	legacy := false
	for _, a := range job.Spec.Add {
		legacy = legacy || a.DSN != ""
	}
	if !legacy {
		return nil
	}
	spec := job.Spec
	spec.Add = make([]ShardSpec, len(job.Spec.Add))
	for i, a := range job.Spec.Add {
		spec.Add[i] = ShardSpec{Name: a.Name}
		if a.DSN == "" {
			continue
		}
		// What joining does (again, for a job that got past it): the shard is active, owning
		// nothing until a cutover.
		if err := meta.RegisterShard(ctx, shard.Info{Name: a.Name, DSN: a.DSN, State: inventory.ShardActive}); err != nil {
			return err
		}
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	if err := meta.Jobs().SetJobSpec(ctx, job.ID, data); err != nil {
		return err
	}
	job.Spec = spec
	return nil
}

// Progress summarises a job for status output.
type Progress struct {
	Job              int64              `json:"job"`
	State            inventory.JobState `json:"state"`
	Partitions       int                `json:"partitions"`
	PartitionsDone   int                `json:"partitions_done"`
	PartitionsCopied int                `json:"partitions_copied"`
	RowsCopied       int64              `json:"rows_copied"`
	RowsEstimate     int64              `json:"rows_estimate"`
	MaxPauseMillis   int                `json:"max_pause_ms"`
	Error            string             `json:"error,omitempty"`
	Add              []string           `json:"add"`
	Remove           []string           `json:"remove"`
}

// Summary returns the job's progress figures.
func (j Job) Summary() Progress {
	p := Progress{Job: j.ID, State: j.State, Partitions: len(j.Moves), Error: j.Error, Add: []string{}, Remove: j.Spec.Remove}
	if p.Remove == nil {
		p.Remove = []string{}
	}
	for _, a := range j.Spec.Add {
		p.Add = append(p.Add, a.Name)
	}
	for _, m := range j.Moves {
		switch m.State {
		case inventory.MoveDone:
			p.PartitionsDone++
			p.PartitionsCopied++
		case inventory.MoveCopied:
			p.PartitionsCopied++
		}
		p.RowsCopied += m.RowsCopied
		p.RowsEstimate += m.RowsEstimate
		p.MaxPauseMillis = max(p.MaxPauseMillis, m.PauseMillis)
	}
	return p
}
