package shard

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/shardstock/shardstock/inventory"
)

// Resharding jobs and the shard registry in the metadata store: reshard_jobs (one row a job,
// its plan as opaque JSON), reshard_moves (one row a moving partition, its progress) and the
// writes to shards that a job makes (added shards join, removed ones leave).

// ErrNoJob means no resharding job matches.
var ErrNoJob = errors.New("no resharding job")

// ErrJobActive means a resharding job is planned or running: only one job runs at a time.
var ErrJobActive = errors.New("another resharding job is active: finish it (reshard resume) or abort it first")

// Job is a resharding job as the metadata store keeps it. Spec is the mover's plan, stored as
// JSON the store does not interpret.
type Job struct {
	ID          int64
	State       inventory.JobState
	FromVersion int64
	Spec        []byte
	Error       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Moves       []Move // by partition
}

// Move is one partition's move in a job and its progress.
type Move struct {
	Partition    int
	From         string
	To           string
	State        inventory.MoveState
	Watermark    uint64 // the source's change seq at the copy's sync point
	CaughtUp     uint64 // change rows up to this seq are replayed on the target
	RowsCopied   int64
	RowsEstimate int64
	PauseMillis  int // the write pause of the move's cutover batch
}

// JobProgress is the read model of a resharding job that gateways and `topology show` print.
type JobProgress struct {
	ID               int64  `json:"id"`
	State            string `json:"state"`
	Partitions       int    `json:"partitions"`
	PartitionsCopied int    `json:"partitions_copied"`
	PartitionsDone   int    `json:"partitions_done"`
	RowsCopied       int64  `json:"rows_copied"`
	RowsEstimate     int64  `json:"rows_estimate"`
	MaxPauseMillis   int    `json:"max_pause_ms"`
	Error            string `json:"error,omitempty"`
}

// activeJobQuery is the one query for "the active job": planned or running, the newest first
// (creation admits one at a time, so there is at most one unless rows were written by hand).
const activeJobQuery = "SELECT id FROM reshard_jobs WHERE state IN ('planned','running') ORDER BY id DESC LIMIT 1"

type rowQuerier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// activeJobID runs activeJobQuery on q (the pool, or a transaction that locks what it reads).
func activeJobID(ctx context.Context, q rowQuerier, forUpdate bool) (int64, error) {
	query := activeJobQuery
	if forUpdate {
		query += " FOR UPDATE"
	}
	var id int64
	err := q.QueryRowContext(ctx, query).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNoJob
	}
	if err != nil {
		return 0, metaErr(err)
	}
	return id, nil
}

// ActiveJobID returns the id of the active (planned or running) resharding job, or ErrNoJob.
func (js *Jobs) ActiveJobID(ctx context.Context) (int64, error) {
	return activeJobID(ctx, js.m.db, false)
}

// ActiveJob returns the progress of the resharding job that is planned or running, or nil.
func (js *Jobs) ActiveJob(ctx context.Context) (*JobProgress, error) {
	id, err := js.ActiveJobID(ctx)
	if errors.Is(err, ErrNoJob) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j := JobProgress{ID: id}
	err = js.m.db.QueryRowContext(ctx, "SELECT state, COALESCE(error, '') FROM reshard_jobs WHERE id = ?", id).Scan(&j.State, &j.Error)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil // deleted since
	}
	if err != nil {
		return nil, metaErr(err)
	}
	err = js.m.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(state IN ('copied','done')), 0), COALESCE(SUM(state = 'done'), 0),
		COALESCE(SUM(rows_copied), 0), COALESCE(SUM(rows_estimate), 0), COALESCE(MAX(pause_ms), 0) FROM reshard_moves WHERE job_id = ?`, j.ID).
		Scan(&j.Partitions, &j.PartitionsCopied, &j.PartitionsDone, &j.RowsCopied, &j.RowsEstimate, &j.MaxPauseMillis)
	if err != nil {
		return nil, metaErr(err)
	}
	return &j, nil
}

// CreateJob persists a new planned job with its moves (state pending) and the shards it adds
// (registered like RegisterShard, so that their DSNs live in the shard registry and never in the
// job's spec), in one transaction, and returns its id. It fails with ErrJobActive while another
// job is planned or running.
func (js *Jobs) CreateJob(ctx context.Context, fromVersion int64, spec []byte, moves []Move, adds []Info) (int64, error) {
	tx, err := js.m.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, metaErr(err)
	}
	defer tx.Rollback()
	if _, err := activeJobID(ctx, tx, true); err == nil {
		return 0, ErrJobActive
	} else if !errors.Is(err, ErrNoJob) {
		return 0, err
	}
	for _, s := range adds {
		if _, err := tx.ExecContext(ctx, registerShard, s.Name, s.DSN, s.State); err != nil {
			return 0, metaErr(err)
		}
	}
	res, err := tx.ExecContext(ctx, "INSERT INTO reshard_jobs (state, from_version, spec_json) VALUES (?, ?, ?)", inventory.JobPlanned, fromVersion, string(spec))
	if err != nil {
		return 0, metaErr(err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, metaErr(err)
	}
	for start := 0; start < len(moves); start += 1000 {
		chunk := moves[start:min(start+1000, len(moves))]
		args := make([]any, 0, 6*len(chunk))
		for _, mv := range chunk {
			args = append(args, id, mv.Partition, mv.From, mv.To, inventory.MovePending, mv.RowsEstimate)
		}
		q := multiRowInsert("INSERT INTO reshard_moves (job_id, partition_id, from_shard, to_shard, state, rows_estimate) VALUES ",
			"(?, ?, ?, ?, ?, ?)", len(chunk), "")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return 0, metaErr(err)
		}
	}
	return id, metaErr(tx.Commit())
}

const jobColumns = "id, state, from_version, spec_json, COALESCE(error, ''), created_at, updated_at"

// Job reads job id with its moves (id 0: the latest job); ErrNoJob when there is none.
func (js *Jobs) Job(ctx context.Context, id int64) (Job, error) {
	q, args := "SELECT "+jobColumns+" FROM reshard_jobs WHERE id = ?", []any{id}
	if id == 0 {
		q, args = "SELECT "+jobColumns+" FROM reshard_jobs ORDER BY id DESC LIMIT 1", nil
	}
	var j Job
	var spec string
	err := js.m.db.QueryRowContext(ctx, q, args...).Scan(&j.ID, &j.State, &j.FromVersion, &spec, &j.Error, &j.CreatedAt, &j.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, ErrNoJob
	}
	if err != nil {
		return Job{}, metaErr(err)
	}
	j.Spec = []byte(spec)
	rows, err := js.m.db.QueryContext(ctx, `SELECT partition_id, from_shard, to_shard, state, watermark, caught_up, rows_copied, rows_estimate, pause_ms
		FROM reshard_moves WHERE job_id = ? ORDER BY partition_id`, j.ID)
	if err != nil {
		return Job{}, metaErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		var mv Move
		if err := rows.Scan(&mv.Partition, &mv.From, &mv.To, &mv.State, &mv.Watermark, &mv.CaughtUp, &mv.RowsCopied, &mv.RowsEstimate, &mv.PauseMillis); err != nil {
			return Job{}, metaErr(err)
		}
		j.Moves = append(j.Moves, mv)
	}
	return j, metaErr(rows.Err())
}

// SetJobState sets a job's state and its last error (empty: none).
func (js *Jobs) SetJobState(ctx context.Context, id int64, state inventory.JobState, errText string) error {
	var e any
	if errText != "" {
		e = errText
	}
	_, err := js.m.db.ExecContext(ctx, "UPDATE reshard_jobs SET state = ?, error = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?", state, e, id)
	return metaErr(err)
}

// UpdateMove saves a move's state and progress.
func (js *Jobs) UpdateMove(ctx context.Context, jobID int64, mv Move) error {
	_, err := js.m.db.ExecContext(ctx, `UPDATE reshard_moves SET state = ?, watermark = ?, caught_up = ?, rows_copied = ?, pause_ms = ?,
		updated_at = UTC_TIMESTAMP(6) WHERE job_id = ? AND partition_id = ?`,
		mv.State, mv.Watermark, mv.CaughtUp, mv.RowsCopied, mv.PauseMillis, jobID, mv.Partition)
	return metaErr(err)
}

// registerShard adds a shard to the registry, or updates its DSN and state.
const registerShard = `INSERT INTO shards (name, dsn, state) VALUES (?, ?, ?)
	ON DUPLICATE KEY UPDATE dsn = VALUES(dsn), state = VALUES(state)`

// RegisterShard adds a shard to the registry, or updates its DSN and state (a shard added by a
// job starts active: it owns nothing until a cutover).
func (m *Meta) RegisterShard(ctx context.Context, s Info) error {
	_, err := m.db.ExecContext(ctx, registerShard, s.Name, s.DSN, s.State)
	return metaErr(err)
}

// SetJobSpec replaces a job's spec (the mover's plan, opaque to the store).
func (js *Jobs) SetJobSpec(ctx context.Context, id int64, spec []byte) error {
	_, err := js.m.db.ExecContext(ctx, "UPDATE reshard_jobs SET spec_json = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ?", string(spec), id)
	return metaErr(err)
}

// SetShardState sets a registered shard's state.
func (m *Meta) SetShardState(ctx context.Context, name string, state inventory.ShardState) error {
	_, err := m.db.ExecContext(ctx, "UPDATE shards SET state = ? WHERE name = ?", state, name)
	return metaErr(err)
}

// metaErr converts an error of a metadata store call at the edge: it names the store (nil
// stays nil). Nothing in the metadata store expects a duplicate key, so there is no domain code
// to convert to.
func metaErr(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("meta store: %w", err)
}
