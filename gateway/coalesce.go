package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/shardstock/shardstock/shard"
)

// coalescer groups concurrent single-line reservations of the same SKU that arrive at this
// gateway and applies each group in one shard transaction (shard.CreateLocalBatch). It works
// like a group commit: while a SKU's batch is in flight, new requests queue; when it finishes,
// the next batch takes everything queued (up to maxBatch). A lone request goes straight through,
// so there is no added wait at low load; under a flash sale one row lock serves many orders.
type coalescer struct {
	s        *Server
	maxBatch int
	mu       sync.Mutex
	queues   map[string]*skuQueue
	wg       sync.WaitGroup
}

type skuQueue struct {
	partition int
	pending   []*queuedReservation
}

type queuedReservation struct {
	req  shard.BatchRequest
	done chan shard.BatchResult
}

func newCoalescer(s *Server, maxBatch int) *coalescer {
	return &coalescer{s: s, maxBatch: maxBatch, queues: map[string]*skuQueue{}}
}

// submit queues one reservation and waits for its own answer. The batch runs on its own
// context, so one client giving up cannot fail the others; that client's reservation may still
// be created (its Idempotency-Key finds it on retry, or its TTL releases it).
func (c *coalescer) submit(ctx context.Context, h shard.Header, ttl time.Duration) shard.BatchResult {
	q := &queuedReservation{req: shard.BatchRequest{Header: h, TTL: ttl}, done: make(chan shard.BatchResult, 1)}
	sku := h.Lines[0].SKU
	c.mu.Lock()
	sq, running := c.queues[sku]
	if !running {
		sq = &skuQueue{partition: h.Lines[0].Partition}
		c.queues[sku] = sq
	}
	sq.pending = append(sq.pending, q)
	if !running {
		c.wg.Add(1)
		go c.drain(sku, sq)
	}
	c.mu.Unlock()
	select {
	case r := <-q.done:
		return r
	case <-ctx.Done():
		return shard.BatchResult{Err: ctx.Err()}
	}
}

// drain runs the SKU's batches until its queue is empty.
func (c *coalescer) drain(sku string, sq *skuQueue) {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		n := min(len(sq.pending), c.maxBatch)
		if n == 0 {
			delete(c.queues, sku)
			c.mu.Unlock()
			return
		}
		batch := sq.pending[:n:n]
		sq.pending = sq.pending[n:]
		c.mu.Unlock()
		c.run(sku, sq.partition, batch)
	}
}

func (c *coalescer) run(sku string, partition int, batch []*queuedReservation) {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.HTTP.RequestTimeout)
	defer cancel()
	reqs := make([]shard.BatchRequest, len(batch))
	for i, q := range batch {
		reqs[i] = q.req
	}
	c.s.metrics.batchSize.Observe(float64(len(batch)))
	rt := c.s.topo.Current()
	st, err := rt.owner(partition)
	var results []shard.BatchResult
	if err == nil {
		err = c.s.timed("create_reservation_batch", st, func() error {
			var err error
			results, err = st.CreateLocalBatch(ctx, sku, partition, reqs)
			return err
		})
	}
	for i, q := range batch {
		if err != nil {
			q.done <- shard.BatchResult{Err: err} // nothing applied: the caller falls back
		} else {
			q.done <- results[i]
		}
	}
}

// wait blocks until every batch in flight finished (shutdown).
func (c *coalescer) wait() { c.wg.Wait() }
