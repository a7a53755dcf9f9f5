package saga

import (
	"context"
	"sync"

	"github.com/shardstock/shardstock/shard"
)

// groupCommit groups concurrent requests for the same key (a SKU) that arrive at this gateway
// and applies each group with one call (one shard transaction). While a key's group is in
// flight, new requests queue; when it finishes, the next group takes everything queued (up to
// maxBatch). A lone request goes straight through, so nothing waits at low load; under a flash
// sale one row lock serves many orders. Used for hot-SKU reservations and their settles.
type groupCommit[Req, Res any] struct {
	maxBatch int
	// apply runs one group; an error means nothing was applied for anyone.
	apply  func(ctx context.Context, key string, partition int, reqs []Req) ([]Res, error)
	ctx    func() (context.Context, context.CancelFunc)
	mu     sync.Mutex
	queues map[string]*groupQueue[Req, Res]
	wg     sync.WaitGroup
}

type groupQueue[Req, Res any] struct {
	partition int
	pending   []*groupEntry[Req, Res]
}

type groupEntry[Req, Res any] struct {
	req  Req
	done chan groupAnswer[Res]
}

type groupAnswer[Res any] struct {
	res Res
	err error
}

func newGroupCommit[Req, Res any](maxBatch int, ctx func() (context.Context, context.CancelFunc),
	apply func(ctx context.Context, key string, partition int, reqs []Req) ([]Res, error)) *groupCommit[Req, Res] {
	return &groupCommit[Req, Res]{maxBatch: maxBatch, apply: apply, ctx: ctx, queues: map[string]*groupQueue[Req, Res]{}}
}

// submit queues one request and waits for its own answer. Groups run on their own context, so
// one client giving up cannot fail the others (its request may still be applied: an
// Idempotency-Key finds it on retry, a TTL releases an abandoned reservation).
func (g *groupCommit[Req, Res]) submit(ctx context.Context, key string, partition int, req Req) (Res, error) {
	e := &groupEntry[Req, Res]{req: req, done: make(chan groupAnswer[Res], 1)}
	g.mu.Lock()
	q, running := g.queues[key]
	if !running {
		q = &groupQueue[Req, Res]{partition: partition}
		g.queues[key] = q
	}
	q.pending = append(q.pending, e)
	if !running {
		g.wg.Add(1)
		go g.drain(key, q)
	}
	g.mu.Unlock()
	select {
	case a := <-e.done:
		return a.res, a.err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

// drain runs the key's groups until its queue is empty.
func (g *groupCommit[Req, Res]) drain(key string, q *groupQueue[Req, Res]) {
	defer g.wg.Done()
	for {
		g.mu.Lock()
		n := min(len(q.pending), g.maxBatch)
		if n == 0 {
			delete(g.queues, key)
			g.mu.Unlock()
			return
		}
		batch := q.pending[:n:n]
		q.pending = q.pending[n:]
		g.mu.Unlock()
		reqs := make([]Req, n)
		for i, e := range batch {
			reqs[i] = e.req
		}
		ctx, cancel := g.ctx()
		res, err := g.apply(ctx, key, q.partition, reqs)
		cancel()
		for i, e := range batch {
			if err != nil {
				e.done <- groupAnswer[Res]{err: err}
			} else {
				e.done <- groupAnswer[Res]{res: res[i]}
			}
		}
	}
}

// wait blocks until every group in flight finished (shutdown).
func (g *groupCommit[Req, Res]) wait() { g.wg.Wait() }

// startCoalescing creates the hot-SKU groups: reservations and settles of single-line,
// single-shard reservations are applied many per shard transaction.
func (c *Coordinator) startCoalescing() {
	groupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), c.opts.GroupTimeout)
	}
	c.reserveGroups = newGroupCommit(c.opts.MaxBatch, groupCtx, onOwner(c, "reserve", "create_reservation_batch",
		func(ctx context.Context, st *shard.Store, sku string, p int, reqs []shard.BatchRequest) ([]shard.BatchResult, error) {
			return st.CreateLocalBatch(ctx, sku, p, reqs)
		}))
	c.settleGroups = newGroupCommit(c.opts.MaxBatch, groupCtx, onOwner(c, "settle", "settle_reservation_batch",
		func(ctx context.Context, st *shard.Store, _ string, p int, reqs []shard.SettleRequest) ([]shard.SettleResult, error) {
			return st.SettleLocalBatch(ctx, p, reqs)
		}))
}

// onOwner makes a group's apply function: it records the batch size under kind and runs apply
// on the partition's owner, timed as op. A group goes to the owner it finds, without the
// moved-partition retry: a failed group falls back to the per-request path, which retries.
func onOwner[Req, Res any](c *Coordinator, kind, op string,
	apply func(ctx context.Context, st *shard.Store, key string, p int, reqs []Req) ([]Res, error)) func(context.Context, string, int, []Req) ([]Res, error) {
	return func(ctx context.Context, key string, p int, reqs []Req) ([]Res, error) {
		c.metrics.batchSize.WithLabelValues(kind).Observe(float64(len(reqs)))
		st, err := c.cluster.Current().Owner(p)
		if err != nil {
			return nil, err
		}
		var out []Res
		err = c.cluster.Timed(op, st, func() error {
			var err error
			out, err = apply(ctx, st, key, p, reqs)
			return err
		})
		return out, err
	}
}
