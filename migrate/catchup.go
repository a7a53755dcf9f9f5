package migrate

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// The catch-up: each pass replays a copied partition's change log from where the last pass
// stopped up to a fresh sync point: the change rows are copied (keeping their origin) and the
// current image of every row they name is copied again. Row images make a replay harmless, so a
// pass interrupted anywhere is simply run again.

// maxCatchUpRounds bounds the catch-up passes before the cutover (whose final pass, under the
// fence, always brings a partition level).
const maxCatchUpRounds = 20

// catchUpRounds runs catch-up passes over every copied move until one replays fewer change
// rows than CatchUpLag.
func (j *jobRun) catchUpRounds(ctx context.Context) error {
	for range maxCatchUpRounds {
		n, err := j.catchUpAll(ctx)
		if err != nil {
			return err
		}
		if err := j.r.failpoint("mid_catchup"); err != nil {
			return err
		}
		if n < int64(j.r.opts.CatchUpLag) {
			return nil
		}
	}
	return nil
}

// catchUpAll replays every copied move's change log up to a fresh sync point; it returns the
// number of change rows replayed.
func (j *jobRun) catchUpAll(ctx context.Context) (int64, error) {
	var total atomic.Int64
	err := j.eachMove(ctx, movesIn(j.job, inventory.MoveCopied), func(ctx context.Context, m *shard.Move) error {
		n, err := j.catchUpMove(ctx, m, false)
		total.Add(n)
		return err
	})
	return total.Load(), err
}

// catchUpMove replays one move's change log up to a sync point. A non-final pass first looks,
// without any lock, whether the partition has anything new at all and skips it otherwise; the
// final pass (under the cutover fence) always takes the sync point.
func (j *jobRun) catchUpMove(ctx context.Context, m *shard.Move, final bool) (int64, error) {
	pm, err := j.mover(m, nil)
	if err != nil {
		return 0, err
	}
	if !final {
		newest, err := pm.src.Mover().NewestChange(ctx, m.Partition)
		if err != nil {
			return 0, err
		}
		if newest <= m.CaughtUp {
			return 0, nil
		}
	}
	to, err := pm.src.Mover().SyncPoint(ctx, m.Partition)
	if err != nil {
		return 0, err
	}
	if to <= m.CaughtUp {
		return 0, nil
	}
	n, err := pm.catchUp(ctx, m.CaughtUp, to)
	if err != nil {
		return n, fmt.Errorf("partition %d: catch-up: %w", m.Partition, err)
	}
	m.CaughtUp = to
	return n, j.r.saveMove(ctx, j.job, *m)
}

// catchUp replays the change log from (from, to]: copies the change rows and re-copies the
// current image of every product, lot, alert, reservation line and header they name.
func (m *partitionMover) catchUp(ctx context.Context, from, to uint64) (int64, error) {
	var touched shard.Touched
	n, err := m.copyChanges(ctx, from, to, &touched)
	if err != nil {
		return n, err
	}
	return n, m.src.Mover().CopyTouched(ctx, m.dst, m.partition, touched, m.chunk)
}
