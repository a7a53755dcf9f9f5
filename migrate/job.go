package migrate

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/router"
	"github.com/shardstock/shardstock/shard"
)

// JobSpec is what a job changes, persisted so that every step can be resumed.
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
	Moves       []MoveState
}

// MoveState is one partition's move and its progress.
type MoveState struct {
	Partition    int                 `json:"partition"`
	From         string              `json:"from"`
	To           string              `json:"to"`
	State        inventory.MoveState `json:"state"`
	Watermark    uint64              `json:"watermark"`
	CaughtUp     uint64              `json:"caught_up"`
	RowsCopied   int64               `json:"rows_copied"`
	RowsEstimate int64               `json:"rows_estimate"`
	PauseMillis  int                 `json:"pause_ms"`
}

// jobStore persists jobs and moves in the metadata store.
type jobStore struct{ db *sql.DB }

// ErrNoJob means no resharding job matches.
var ErrNoJob = errors.New("no resharding job")

func (js jobStore) create(ctx context.Context, fromVersion int64, spec JobSpec, moves []router.Move, estimates map[int]int64) (int64, error) {
	tx, err := js.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var active int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM reshard_jobs WHERE state IN ('planned','running') FOR UPDATE").Scan(&active); err != nil {
		return 0, err
	}
	if active > 0 {
		return 0, errors.New("another resharding job is active: finish it (reshard resume) or abort it first")
	}
	data, err := json.Marshal(spec)
	if err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO reshard_jobs (state, from_version, spec_json) VALUES (?, ?, ?)", inventory.JobPlanned, fromVersion, string(data))
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	for _, m := range moves {
		if _, err := tx.ExecContext(ctx, `INSERT INTO reshard_moves (job_id, partition_id, from_shard, to_shard, state, rows_estimate)
			VALUES (?, ?, ?, ?, ?, ?)`, id, m.Partition, m.From, m.To, inventory.MovePending, estimates[m.Partition]); err != nil {
			return 0, err
		}
	}
	return id, tx.Commit()
}

// load reads a job with its moves; id 0 means the latest job.
func (js jobStore) load(ctx context.Context, id int64) (Job, error) {
	q := "SELECT id, state, from_version, spec_json, COALESCE(error, ''), created_at, updated_at FROM reshard_jobs WHERE id = ?"
	args := []any{id}
	if id == 0 {
		q = "SELECT id, state, from_version, spec_json, COALESCE(error, ''), created_at, updated_at FROM reshard_jobs ORDER BY id DESC LIMIT 1"
		args = nil
	}
	var j Job
	var spec string
	err := js.db.QueryRowContext(ctx, q, args...).Scan(&j.ID, &j.State, &j.FromVersion, &spec, &j.Error, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNoJob
	}
	if err != nil {
		return Job{}, err
	}
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return Job{}, fmt.Errorf("job %d: bad spec: %w", j.ID, err)
	}
	rows, err := js.db.QueryContext(ctx, `SELECT partition_id, from_shard, to_shard, state, watermark, caught_up, rows_copied, rows_estimate, pause_ms
		FROM reshard_moves WHERE job_id = ? ORDER BY partition_id`, j.ID)
	if err != nil {
		return Job{}, err
	}
	defer rows.Close()
	for rows.Next() {
		var m MoveState
		if err := rows.Scan(&m.Partition, &m.From, &m.To, &m.State, &m.Watermark, &m.CaughtUp, &m.RowsCopied, &m.RowsEstimate, &m.PauseMillis); err != nil {
			return Job{}, err
		}
		j.Moves = append(j.Moves, m)
	}
	return j, rows.Err()
}

func (js jobStore) setJobState(ctx context.Context, id int64, state inventory.JobState, errText string) error {
	var e any
	if errText != "" {
		e = errText
	}
	_, err := js.db.ExecContext(ctx, "UPDATE reshard_jobs SET state = ?, error = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?", state, e, id)
	return err
}

func (js jobStore) updateMove(ctx context.Context, id int64, m MoveState) error {
	_, err := js.db.ExecContext(ctx, `UPDATE reshard_moves SET state = ?, watermark = ?, caught_up = ?, rows_copied = ?, pause_ms = ?,
		updated_at = UTC_TIMESTAMP(6) WHERE job_id = ? AND partition_id = ?`,
		m.State, m.Watermark, m.CaughtUp, m.RowsCopied, m.PauseMillis, id, m.Partition)
	return err
}

// upsertShard registers a shard (new ones start active; they own nothing until cutover).
func (js jobStore) upsertShard(ctx context.Context, s ShardSpec, state inventory.ShardState) error {
	_, err := js.db.ExecContext(ctx, `INSERT INTO shards (name, dsn, state) VALUES (?, ?, ?)
		ON DUPLICATE KEY UPDATE dsn = VALUES(dsn), state = VALUES(state)`, s.Name, s.DSN, state)
	return err
}

func (js jobStore) setShardState(ctx context.Context, name string, state inventory.ShardState) error {
	_, err := js.db.ExecContext(ctx, "UPDATE shards SET state = ? WHERE name = ?", state, name)
	return err
}

// ActiveJob returns the active job (planned or running), or ErrNoJob.
func ActiveJob(ctx context.Context, meta *shard.Meta) (Job, error) {
	js := jobStore{meta.DB()}
	var id int64
	err := meta.DB().QueryRowContext(ctx, "SELECT id FROM reshard_jobs WHERE state IN ('planned','running') ORDER BY id DESC LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNoJob
	}
	if err != nil {
		return Job{}, err
	}
	return js.load(ctx, id)
}

// LoadJob returns job id (0: the latest job).
func LoadJob(ctx context.Context, meta *shard.Meta, id int64) (Job, error) {
	return jobStore{meta.DB()}.load(ctx, id)
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
