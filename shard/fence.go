package shard

import (
	"context"
	"database/sql"

	"github.com/shardstock/shardstock/inventory"
)

// SetFences sets the fence state of the given partitions on this shard (inserting missing
// rows). Flipping an owned partition waits for the write transactions that hold its fence row
// under a shared lock, so once it returns no write can land on the partition here.
func (m *Mover) SetFences(ctx context.Context, state inventory.FenceState, partitions []int) error {
	return m.s.inTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(partitions); start += 500 {
			chunk := partitions[start:min(start+500, len(partitions))]
			args := make([]any, 0, 2*len(chunk))
			for _, p := range chunk {
				args = append(args, p, state)
			}
			q := multiRowInsert("INSERT INTO partition_fence (partition_id, state, updated_at) VALUES ", "(?, ?, UTC_TIMESTAMP(6))", len(chunk),
				" ON DUPLICATE KEY UPDATE state = VALUES(state), updated_at = VALUES(updated_at)")
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Fences returns the fence state of every partition that has a fence row on this shard.
func (m *Mover) Fences(ctx context.Context) (map[int]inventory.FenceState, error) {
	out := map[int]inventory.FenceState{}
	err := m.s.scanRows(ctx, m.s.db, "SELECT partition_id, state FROM partition_fence", nil, func(rows *sql.Rows) error {
		var p int
		var st inventory.FenceState
		err := rows.Scan(&p, &st)
		out[p] = st
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
