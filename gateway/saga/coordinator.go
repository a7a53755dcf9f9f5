// Package saga coordinates reservations across shards. A reservation whose lines all live with
// its header is one local transaction; otherwise it is a saga with a durable header on the shard
// of its first line's partition: header pending → lines reserved on each shard in parallel →
// header held, or rollback. Commit and release flip the header first (held → committing or
// releasing, a commit only before expiry), then apply the lines, then mark it final; every step
// is conditional and idempotent, so the recovery worker finishes what a crashed coordinator left
// with the same code. Hot single-line reservations and their settles are coalesced (group
// commit). Only the header decides: nothing is ever half committed.
package saga

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shardstock/shardstock/gateway/cluster"
	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Options configure a Coordinator.
type Options struct {
	Logger *slog.Logger
	// Registry receives the coordinator's metrics (recoveries, coalesced batch sizes).
	Registry prometheus.Registerer
	// Coalesce turns on hot-SKU coalescing: concurrent single-line, single-shard reservations of
	// one SKU, and settles of reservations of one partition, are applied up to MaxBatch per shard
	// transaction, each group bounded by GroupTimeout.
	Coalesce     bool
	MaxBatch     int
	GroupTimeout time.Duration
	// SweepInterval is how often Run runs a recovery pass; RecoveryGrace is how long an
	// in-flight header may sit untouched before recovery finishes it.
	SweepInterval time.Duration
	RecoveryGrace time.Duration
	// Failpoint, when set, is called at each step of the saga; a non-nil error makes the
	// coordinator stop right there, as if the process had died (tests of crash recovery).
	Failpoint func(step string) error
	// Wrote, when set, is told the SKUs of every reservation the coordinator wrote (or may have
	// written), so that a read cache drops them.
	Wrote func(skus ...string)
}

// Coordinator runs reservations: creation, commit, release, expiry and recovery.
type Coordinator struct {
	cluster *cluster.Client
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// reserveGroups and settleGroups batch hot-SKU reservations and their commits/releases
	// (nil when coalescing is off).
	reserveGroups *groupCommit[shard.BatchRequest, shard.BatchResult]
	settleGroups  *groupCommit[shard.SettleRequest, shard.SettleResult]
}

// New creates a coordinator that reaches the shards through c.
func New(c *cluster.Client, opts Options) *Coordinator {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	co := &Coordinator{cluster: c, opts: opts, log: opts.Logger, metrics: newMetrics(opts.Registry)}
	if opts.Coalesce {
		co.startCoalescing()
	}
	return co
}

// Wait blocks until every coalesced group in flight has finished (shutdown).
func (c *Coordinator) Wait() {
	if c.reserveGroups != nil {
		c.reserveGroups.wait()
		c.settleGroups.wait()
	}
}

// Get reads a reservation's header (not_found for an id that is not one).
func (c *Coordinator) Get(ctx context.Context, id string) (shard.Header, error) {
	p, err := c.partitionOf(id)
	if err != nil {
		return shard.Header{}, err
	}
	return c.readHeader(ctx, id, p)
}

func (c *Coordinator) readHeader(ctx context.Context, id string, partition int) (shard.Header, error) {
	var h shard.Header
	err := c.cluster.OnPartition(ctx, "get_reservation", partition, func(st *shard.Store) error {
		var err error
		h, err = st.GetHeader(ctx, id, partition)
		return err
	})
	return h, err
}

// partitionOf returns the header partition an id encodes (not_found when it encodes none).
func (c *Coordinator) partitionOf(id string) (int, error) {
	p, ok := IDPartition(id, c.cluster.Current().Partitions())
	if !ok {
		return 0, inventory.Errorf(inventory.CodeNotFound, "reservation %q not found", id)
	}
	return p, nil
}

// failpoint lets tests stop the coordinator at a saga step, as if the process died there.
func (c *Coordinator) failpoint(step string) error {
	if c.opts.Failpoint == nil {
		return nil
	}
	if err := c.opts.Failpoint(step); err != nil {
		return &failpointError{step: step, err: err}
	}
	return nil
}

// failpointError marks a simulated crash: the coordinator returns without any cleanup.
type failpointError struct {
	step string
	err  error
}

func (e *failpointError) Error() string { return "failpoint " + e.step + ": " + e.err.Error() }
func (e *failpointError) Unwrap() error { return e.err }

func isFailpoint(err error) bool {
	var fe *failpointError
	return errors.As(err, &fe)
}

// singleShard reports whether the header and every line are owned by one shard right now.
func (c *Coordinator) singleShard(h shard.Header) bool {
	snap := c.cluster.Current()
	home := snap.OwnerName(h.Partition)
	for _, l := range h.Lines {
		if snap.OwnerName(l.Partition) != home {
			return false
		}
	}
	return true
}

// wroteLines tells the Wrote hook about the lines' SKUs.
func (c *Coordinator) wroteLines(lines []shard.LineRequest) {
	if c.opts.Wrote == nil {
		return
	}
	skus := make([]string, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
	}
	c.opts.Wrote(skus...)
}

// retryOnNormalPath reports whether a failed group applied nothing for a reason the normal,
// per-request path handles better (it refreshes the topology and retries a moved partition).
func retryOnNormalPath(err error) bool {
	switch inventory.ErrorCode(err) {
	case inventory.CodePartitionMoved, inventory.CodeShardUnavailable, inventory.CodeInternal:
		return true
	}
	return false
}
