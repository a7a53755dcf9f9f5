package saga

import (
	"context"
	"strconv"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// settlement is what a commit or a release does to a held reservation: its in-flight and final
// header statuses, the change kind of its line rows, and whether the reservation must not have
// expired.
type settlement struct {
	action          shard.LineAction
	inFlight, final inventory.Status
	kind            inventory.ChangeKind
	unexpiredOnly   bool
}

var (
	commit  = settlement{shard.ActionCommit, inventory.StatusCommitting, inventory.StatusCommitted, inventory.KindCommit, true}
	release = settlement{shard.ActionRelease, inventory.StatusReleasing, inventory.StatusReleased, inventory.KindRelease, false}
)

// Commit commits a held reservation before its expiry and returns the header as it now is.
// Committing a committed reservation answers the same state again; an expired one is
// invalid_state.
func (c *Coordinator) Commit(ctx context.Context, id string) (shard.Header, error) {
	return c.settle(ctx, id, commit)
}

// Release releases a held reservation and returns the header as it now is. Releasing a released
// or expired reservation answers its state again.
func (c *Coordinator) Release(ctx context.Context, id string) (shard.Header, error) {
	return c.settle(ctx, id, release)
}

// settle commits or releases a reservation. The header decides first (held → committing or
// releasing, a commit only before expiry); then the lines; then the final status. Repeating a
// call that already succeeded answers the same state.
func (c *Coordinator) settle(ctx context.Context, id string, how settlement) (shard.Header, error) {
	p, err := c.partitionOf(id)
	if err != nil {
		return shard.Header{}, err
	}
	if c.settleGroups != nil {
		if out, done, err := c.settleGrouped(ctx, id, p, how); done {
			return out, err
		}
	}
	h, err := c.readHeader(ctx, id, p)
	if err != nil {
		return shard.Header{}, err
	}
	defer c.wroteLines(h.Lines)
	var cur shard.Header
	var moved bool
	if c.singleShard(h) {
		err = c.cluster.OnPartition(ctx, "settle_local", p, func(st *shard.Store) error {
			var err error
			cur, moved, err = st.FinishLocal(ctx, id, p, []inventory.Status{inventory.StatusHeld}, how.final, how.action, how.kind, how.unexpiredOnly)
			return err
		})
		if err != nil {
			return shard.Header{}, err
		}
		if moved {
			return cur, nil
		}
	} else {
		cur, moved, err = c.transition(ctx, h, []inventory.Status{inventory.StatusHeld}, how.inFlight, how.unexpiredOnly)
		if err != nil {
			return shard.Header{}, err
		}
		if moved {
			if err := c.failpoint("settle.header_decided"); err != nil {
				return shard.Header{}, err
			}
			return c.finish(ctx, cur, how.action, how.kind, how.final)
		}
	}
	return c.judgeSettled(ctx, cur, how)
}

// settleGrouped is the hot path: settles of reservations that live in one partition are
// grouped per partition and applied many per transaction, without reading the header first. It
// is not done when the reservation is not local or the group applied nothing: the per-request
// path takes over.
func (c *Coordinator) settleGrouped(ctx context.Context, id string, p int, how settlement) (shard.Header, bool, error) {
	r, err := c.settleGroups.submit(ctx, strconv.Itoa(p), p, shard.SettleRequest{ID: id, Action: how.action, UnexpiredOnly: how.unexpiredOnly,
		Actor: inventory.ActorFrom(ctx)})
	if err == nil {
		err = r.Err
	}
	switch {
	case err == nil && r.Moved:
		c.wroteLines(r.Header.Lines)
		return r.Header, true, nil
	case err == nil && !r.NotLocal:
		// Not held any more (or held past its TTL): judgeSettled may still apply the lines
		// (committing, releasing) or expire the reservation, so its SKUs are written too.
		defer c.wroteLines(r.Header.Lines)
		out, err := c.judgeSettled(ctx, r.Header, how)
		return out, true, err
	case err != nil && (ctx.Err() != nil || !retryOnNormalPath(err)):
		return shard.Header{}, true, err
	}
	return shard.Header{}, false, nil
}

// judgeSettled answers a settle whose header was not held when it was tried.
func (c *Coordinator) judgeSettled(ctx context.Context, cur shard.Header, how settlement) (shard.Header, error) {
	id := cur.ID
	switch {
	case cur.Status == how.final:
		return cur, nil
	case cur.Status == how.inFlight:
		return c.finish(ctx, cur, how.action, how.kind, how.final)
	case how.action == shard.ActionRelease && (cur.Status == inventory.StatusExpired || cur.Status == inventory.StatusExpiring):
		// Releasing an expired reservation: its stock is already back; nothing to do.
		return cur, nil
	case cur.Status == inventory.StatusHeld:
		// A commit after the TTL passed but before the sweeper got to it: expire it now.
		if exp, err := c.expire(ctx, cur); err == nil {
			cur = exp
		}
		return shard.Header{}, inventory.Errorf(inventory.CodeInvalidState, "reservation %s has expired", id).
			WithDetails(map[string]any{"status": PublicStatus(cur.Status)})
	default:
		return shard.Header{}, inventory.Errorf(inventory.CodeInvalidState, "reservation %s is %s; cannot %s it", id, PublicStatus(cur.Status), how.action).
			WithDetails(map[string]any{"status": PublicStatus(cur.Status)})
	}
}

// transition flips the header on its home shard.
func (c *Coordinator) transition(ctx context.Context, h shard.Header, from []inventory.Status, to inventory.Status, unexpiredOnly bool) (shard.Header, bool, error) {
	var cur shard.Header
	var moved bool
	err := c.cluster.OnPartition(ctx, "transition_header", h.Partition, func(st *shard.Store) error {
		var err error
		cur, moved, err = st.TransitionHeader(ctx, h.ID, h.Partition, from, to, unexpiredOnly)
		return err
	})
	return cur, moved, err
}

// finish applies a decided header (committing, releasing, expiring) to all its lines and then
// marks it final. Every step is idempotent, so the recovery worker runs the same code.
func (c *Coordinator) finish(ctx context.Context, h shard.Header, action shard.LineAction, kind inventory.ChangeKind, final inventory.Status) (shard.Header, error) {
	err := c.cluster.OnLines(ctx, "apply_lines", h.Lines, func(st *shard.Store, ls []shard.LineRequest) error {
		if err := st.ApplyLines(ctx, h.ID, ls, action, kind); err != nil {
			return err
		}
		return c.failpoint("finish.line_group_applied")
	})
	if err != nil {
		return shard.Header{}, err
	}
	if err := c.failpoint("finish.lines_applied"); err != nil {
		return shard.Header{}, err
	}
	cur, _, err := c.transition(ctx, h, []inventory.Status{h.Status}, final, false)
	return cur, err
}

// expire releases a held reservation past its TTL: held → expiring → lines released → expired.
// The expiry worker is the actor of its change rows, also when a late commit found it.
func (c *Coordinator) expire(ctx context.Context, h shard.Header) (shard.Header, error) {
	ctx = inventory.WorkerContext(ctx, inventory.ActorExpiry)
	cur, moved, err := c.transition(ctx, h, []inventory.Status{inventory.StatusHeld}, inventory.StatusExpiring, false)
	if err != nil {
		return shard.Header{}, err
	}
	if !moved && cur.Status != inventory.StatusExpiring {
		return cur, nil
	}
	return c.finish(ctx, cur, shard.ActionRelease, inventory.KindExpire, inventory.StatusExpired)
}
