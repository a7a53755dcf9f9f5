package migrate

import (
	"context"
	"crypto/sha1"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"

	"github.com/shardstock/shardstock/shard"
)

// The delete phase of Archive and the guards that keep it away from resharding jobs and from
// other archive runs (see archive.go for the whole procedure).

// delete deletes the shard's archived rows, file by file, in chunks.
func (a *archiver) delete(ctx context.Context, st *shard.Store, sa *ShardArchive, man ShardArchive) error {
	for _, f := range man.Files {
		var rows []ArchivedChange
		got, err := ReadArchiveFile(filepath.Join(a.dir, filepath.FromSlash(f.Path)), func(c ArchivedChange) error {
			rows = append(rows, c)
			return nil
		})
		if err != nil {
			return err
		}
		if got.SHA256 != f.SHA256 || got.Rows != f.Rows {
			return fmt.Errorf("file %s changed since it was verified", f.Path)
		}
		for start := 0; start < len(rows); start += a.opts.ChunkRows {
			chunk := rows[start:min(start+a.opts.ChunkRows, len(rows))]
			if err := a.deleteChunkRetry(ctx, st, chunk); err != nil {
				return fmt.Errorf("delete seq %d..%d: %w", chunk[0].Seq, chunk[len(chunk)-1].Seq, err)
			}
			sa.Deleted += int64(len(chunk))
		}
	}
	return nil
}

func (a *archiver) deleteChunkRetry(ctx context.Context, st *shard.Store, chunk []ArchivedChange) error {
	for attempt := 1; ; attempt++ {
		err := a.deleteChunk(ctx, st, chunk)
		var me *gomysql.MySQLError
		if err == nil || attempt == 5 || ctx.Err() != nil || !errors.As(err, &me) || me.Number != 1213 && me.Number != 1205 {
			return err
		}
		time.Sleep(time.Duration(attempt*attempt) * 10 * time.Millisecond)
	}
}

// deleteChunk deletes the rows of one chunk and adds their sums to ledger_base, in one
// transaction under the partitions' fences.
func (a *archiver) deleteChunk(ctx context.Context, st *shard.Store, chunk []ArchivedChange) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var partitions []any
	seen := map[int]bool{}
	seqs := make([]any, len(chunk))
	for i, c := range chunk {
		seqs[i] = c.Seq
		if !seen[c.PartitionID] {
			seen[c.PartitionID] = true
			partitions = append(partitions, c.PartitionID)
		}
	}
	inParts := strings.TrimSuffix(strings.Repeat("?,", len(partitions)), ",")
	inSeqs := strings.TrimSuffix(strings.Repeat("?,", len(seqs)), ",")
	// The fences, in share mode like every write: a cutover cannot interleave.
	fences, err := tx.QueryContext(ctx, "SELECT partition_id FROM partition_fence WHERE partition_id IN ("+inParts+
		") AND state = 'owned' LOCK IN SHARE MODE", partitions...)
	if err != nil {
		return err
	}
	owned := 0
	for fences.Next() {
		owned++
	}
	fences.Close()
	if err := fences.Err(); err != nil {
		return err
	}
	if owned != len(partitions) {
		return errors.New("a partition of these rows is no longer owned by the shard")
	}
	// A job created since the start copies these partitions only after taking their fences.
	if err := checkNoActiveJob(ctx, a.meta.DB()); err != nil {
		return err
	}
	inDB, err := readChanges(ctx, tx, st.Name(), "SELECT "+changeColumns+" FROM changes WHERE seq IN ("+inSeqs+") FOR UPDATE", seqs...)
	if err != nil {
		return err
	}
	bySeq := make(map[uint64]ArchivedChange, len(inDB))
	for _, c := range inDB {
		bySeq[c.Seq] = c
	}
	type base struct {
		partition       int
		onHand, reserve int64
		rows            int64
	}
	bases := map[string]*base{}
	var skus []string
	for _, c := range chunk {
		d, ok := bySeq[c.Seq]
		if !ok {
			return fmt.Errorf("row seq %d is no longer in the change log", c.Seq)
		}
		if !d.same(c) {
			return fmt.Errorf("row seq %d differs from its archived copy", c.Seq)
		}
		if c.SKU == "" {
			if c.DeltaOnHand != 0 || c.DeltaReserved != 0 {
				return fmt.Errorf("row seq %d has deltas but no SKU", c.Seq)
			}
			continue
		}
		b := bases[c.SKU]
		if b == nil {
			b = &base{partition: c.PartitionID}
			bases[c.SKU] = b
			skus = append(skus, c.SKU)
		}
		b.onHand += c.DeltaOnHand // bounded: a product's stock stays below 10^15 base units
		b.reserve += c.DeltaReserved
		b.rows++
	}
	if len(skus) > 0 {
		sort.Strings(skus) // a stable lock order
		var q strings.Builder
		q.WriteString("INSERT INTO ledger_base (sku, partition_id, on_hand, reserved, rows_archived, updated_at) VALUES ")
		args := make([]any, 0, 5*len(skus))
		for i, sku := range skus {
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(?,?,?,?,?,UTC_TIMESTAMP(6))")
			b := bases[sku]
			args = append(args, sku, b.partition, b.onHand, b.reserve, b.rows)
		}
		q.WriteString(` ON DUPLICATE KEY UPDATE on_hand = on_hand + VALUES(on_hand), reserved = reserved + VALUES(reserved),
			rows_archived = rows_archived + VALUES(rows_archived), updated_at = VALUES(updated_at)`)
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM changes WHERE seq IN ("+inSeqs+") AND partition_id IN ("+inParts+")",
		append(seqs, partitions...)...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(chunk)) {
		return fmt.Errorf("deleted %d rows of %d (%v)", n, len(chunk), err)
	}
	return tx.Commit()
}

// checkNoActiveJob fails with ErrReshardActive while a resharding job is planned or running.
func checkNoActiveJob(ctx context.Context, meta *sql.DB) error {
	var id int64
	err := meta.QueryRowContext(ctx, "SELECT id FROM reshard_jobs WHERE state IN ('planned','running') ORDER BY id LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w (job %d)", ErrReshardActive, id)
}

// archiveLock takes the metadata store's archive lock (a named lock on a dedicated connection)
// and returns its release.
func archiveLock(ctx context.Context, db *sql.DB) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	discard := func() {
		_ = conn.Raw(func(any) error { return driver.ErrBadConn }) // never back to the pool with the lock
		_ = conn.Close()
	}
	var dbName sql.NullString
	if err := conn.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName); err != nil {
		discard()
		return nil, err
	}
	sum := sha1.Sum([]byte(dbName.String))
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 0)", "shardstock_archive:"+hex.EncodeToString(sum[:])).Scan(&got); err != nil {
		discard()
		return nil, err
	}
	if !got.Valid || got.Int64 != 1 {
		discard()
		return nil, ErrArchiveRunning
	}
	return discard, nil
}
