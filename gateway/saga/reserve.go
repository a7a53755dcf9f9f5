package saga

import (
	"context"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Request is a reservation to create: validated lines with their partitions, the TTL, and
// whether to commit at once. Marker, under an Idempotency-Key, is the key's hash: the id is then
// derived from it, so a re-executed create finds its own header instead of making another.
type Request struct {
	OrderID string
	Lines   []shard.LineRequest
	TTL     time.Duration
	Commit  bool
	Marker  []byte
	// Takeover: an earlier attempt under the same key is known to be dead (its claim was taken
	// over), so a header it left in flight is finished at once instead of after the recovery
	// grace.
	Takeover bool
}

// Reserve creates a reservation and returns its header (held, or committed when the request
// asked for it): a coalesced group for a hot single line, one local transaction when every line
// lives with the header, otherwise the saga (header pending → lines on each shard in parallel →
// held, or rollback). Not enough stock on any line is insufficient_stock and changes nothing.
func (c *Coordinator) Reserve(ctx context.Context, req Request) (shard.Header, error) {
	p := req.Lines[0].Partition
	h := shard.Header{ID: NewID(p, req.Marker), Partition: p, OrderID: req.OrderID, Lines: req.Lines, CommitRequested: req.Commit}
	defer c.wroteLines(h.Lines)
	if c.reserveGroups != nil && len(h.Lines) == 1 {
		out, done, err := c.reserveGrouped(ctx, h, req)
		if done {
			return out, err
		}
	}
	if c.singleShard(h) {
		out, done, err := c.reserveLocal(ctx, h, req)
		if done {
			return out, err
		}
	}
	return c.reserveSaga(ctx, h, req)
}

// reserveGrouped submits a single-line reservation to its SKU's group. It is not done when the
// group applied nothing (partition moving, shard trouble): the normal path then refreshes the
// topology and retries.
func (c *Coordinator) reserveGrouped(ctx context.Context, h shard.Header, req Request) (shard.Header, bool, error) {
	r, err := c.reserveGroups.submit(ctx, h.Lines[0].SKU, h.Partition, shard.BatchRequest{Header: h, TTL: req.TTL, KeyDerived: req.Marker != nil,
		Actor: inventory.ActorFrom(ctx)})
	if err == nil {
		err = r.Err
	}
	switch {
	case err == nil:
		return r.Header, true, nil
	case inventory.IsCode(err, inventory.CodeAlreadyApplied):
		out, err := c.awaitSettled(ctx, h, req.Takeover)
		return out, true, err
	case ctx.Err() != nil || !retryOnNormalPath(err):
		return shard.Header{}, true, err
	}
	return shard.Header{}, false, nil
}

// reserveLocal creates a reservation whose lines all live with its header in one transaction.
// It is not done when the lines stopped being on one shard meanwhile: the saga takes over.
func (c *Coordinator) reserveLocal(ctx context.Context, h shard.Header, req Request) (shard.Header, bool, error) {
	var out shard.Header
	err := c.cluster.OnPartition(ctx, "create_reservation_local", h.Partition, func(st *shard.Store) error {
		if !c.singleShard(h) {
			return inventory.Errorf(inventory.CodePartitionMoved, "lines no longer on one shard")
		}
		var err error
		out, err = st.CreateLocal(ctx, h, req.TTL)
		return err
	})
	switch {
	case err == nil:
		return out, true, nil
	case inventory.IsCode(err, inventory.CodeAlreadyApplied):
		out, err := c.awaitSettled(ctx, h, req.Takeover)
		return out, true, err
	case inventory.IsCode(err, inventory.CodePartitionMoved) && !c.singleShard(h):
		return shard.Header{}, false, nil
	default:
		return shard.Header{}, true, err
	}
}

// precheck reads every line's product (one query per shard) and fails, changing nothing, when
// a product is missing, a quantity has too many decimals or the stock is short right now. The
// saga re-checks under lock; this only spares the common failures a rollback.
func (c *Coordinator) precheck(ctx context.Context, lines []shard.LineRequest) error {
	found, err := c.cluster.Products(ctx, lines)
	if err != nil {
		return err
	}
	var short []inventory.ShortLine
	for _, l := range lines {
		p, ok := found[l.SKU]
		if !ok {
			return inventory.Errorf(inventory.CodeNotFound, "product %q not found", l.SKU).WithDetails(map[string]any{"sku": l.SKU})
		}
		units, err := l.Quantity.BaseUnits(p.Scale)
		if err != nil {
			return err
		}
		if p.Available() < units {
			short = append(short, inventory.NewShortLine(l.SKU, units, p.Available(), p.Scale))
		}
	}
	if len(short) > 0 {
		return inventory.Insufficient(short...)
	}
	return nil
}

// reserveSaga runs the cross-shard saga: header pending, lines reserved per shard, header held
// (or committing and then committed when the request asked for a commit), or rollback.
func (c *Coordinator) reserveSaga(ctx context.Context, h shard.Header, req Request) (shard.Header, error) {
	if err := c.precheck(ctx, h.Lines); err != nil {
		return shard.Header{}, err
	}
	err := c.cluster.OnPartition(ctx, "insert_header", h.Partition, func(st *shard.Store) error {
		return st.InsertHeader(ctx, h, req.TTL)
	})
	if inventory.IsCode(err, inventory.CodeAlreadyApplied) {
		return c.awaitSettled(ctx, h, req.Takeover)
	}
	if err != nil {
		return shard.Header{}, err
	}
	if err := c.failpoint("saga.header_written"); err != nil {
		return shard.Header{}, err
	}
	err = c.cluster.OnLines(ctx, "reserve_lines", h.Lines, func(st *shard.Store, ls []shard.LineRequest) error {
		if err := st.ReserveLines(ctx, h.ID, ls); err != nil {
			return err
		}
		return c.failpoint("saga.line_group_reserved")
	})
	if err != nil {
		if isFailpoint(err) {
			return shard.Header{}, err
		}
		c.rollback(context.WithoutCancel(ctx), h)
		return shard.Header{}, err
	}
	if err := c.failpoint("saga.lines_reserved"); err != nil {
		return shard.Header{}, err
	}
	return c.hold(ctx, h)
}

// hold moves a saga whose lines are all reserved out of pending: held, or committing and then
// committed. When recovery judged the saga dead meanwhile, it is rolled back.
func (c *Coordinator) hold(ctx context.Context, h shard.Header) (shard.Header, error) {
	next := inventory.StatusHeld
	if h.CommitRequested {
		next = inventory.StatusCommitting
	}
	cur, moved, err := c.transition(ctx, h, []inventory.Status{inventory.StatusPending}, next, false)
	if err != nil {
		return shard.Header{}, err
	}
	if !moved {
		// The recovery worker judged this saga dead and is rolling it back.
		c.rollback(context.WithoutCancel(ctx), h)
		return shard.Header{}, inventory.Errorf(inventory.CodeShardUnavailable, "the reservation could not be completed in time; it was rolled back").
			WithDetails(map[string]any{"shards": []string{}, "status": cur.Status})
	}
	if h.CommitRequested {
		return c.finish(ctx, cur, shard.ActionCommit, inventory.KindCommit, inventory.StatusCommitted)
	}
	return cur, nil // the transition returned the header as it now is
}

// rollback releases every line of a saga that failed (leaving tombstones for lines not yet
// reserved) and marks the header released. Errors are left to the recovery worker.
func (c *Coordinator) rollback(ctx context.Context, h shard.Header) {
	cur, moved, err := c.transition(ctx, h, []inventory.Status{inventory.StatusPending}, inventory.StatusReleasing, false)
	if err != nil || (!moved && cur.Status != inventory.StatusReleasing) {
		return
	}
	_, _ = c.finish(ctx, cur, shard.ActionRelease, inventory.KindRelease, inventory.StatusReleased)
}

// awaitSettled answers a create that finds its own header already there (a re-run under the
// same Idempotency-Key whose first answer was never stored): once the header left pending, a
// reservation that exists is the answer; one that was rolled back (its coordinator gave up or
// died before holding it) is a failure, never a success. When the earlier attempt is known to be
// dead (dead: its claim was taken over), a header it left pending or committing is finished now,
// as the recovery worker would after its grace.
func (c *Coordinator) awaitSettled(ctx context.Context, h shard.Header, dead bool) (shard.Header, error) {
	for {
		cur, err := c.readHeader(ctx, h.ID, h.Partition)
		if err != nil {
			return cur, err
		}
		if dead && (cur.Status == inventory.StatusPending || cur.Status == inventory.StatusCommitting) {
			if _, err := c.recoverHeader(ctx, cur); err != nil {
				return shard.Header{}, err
			}
			dead = false
			continue
		}
		switch cur.Status {
		case inventory.StatusReleased, inventory.StatusReleasing:
			return shard.Header{}, inventory.Errorf(inventory.CodeInvalidState,
				"an earlier attempt with this Idempotency-Key was rolled back; retry with a new Idempotency-Key").
				WithDetails(map[string]any{"status": inventory.StatusReleased})
		case inventory.StatusPending, inventory.StatusCommitting:
		default:
			return cur, nil
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return shard.Header{}, ctx.Err()
		}
	}
}
