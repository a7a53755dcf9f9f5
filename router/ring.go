package router

import (
	"fmt"
	"math"
	"sort"

	"github.com/buraksezer/consistent"
	"github.com/cespare/xxhash/v2"
)

// Ring defaults used when RingOptions fields are zero.
const (
	// DefaultReplicationFactor is the number of ring points per shard when
	// RingOptions.ReplicationFactor is 0.
	DefaultReplicationFactor = 20
	// DefaultLoad is the bounded-load factor when RingOptions.Load is 0.
	DefaultLoad = 1.25
)

// Bounds on RingOptions. The ring needs at least two points per member so that
// its bounded-load walk always reaches every member; the upper bounds keep the
// ring's cost (it sorts all points once per member) reasonable.
const (
	minReplicationFactor = 2
	maxReplicationFactor = 1000
	maxLoad              = 1000
)

// RingOptions tunes the consistent-hash ring that proposes maps. A zero field
// takes its default (DefaultReplicationFactor, DefaultLoad).
type RingOptions struct {
	// ReplicationFactor is the number of points each shard has on the ring, 2..1000.
	ReplicationFactor int
	// Load is the bounded-load factor: no shard gets more than
	// ceil(floor(P/N)*Load) partitions from the ring. It must be in [1, 1000] and leave room for
	// every partition (with Load 1 that needs P divisible by N).
	Load float64
}

// withDefaults returns o with zero fields replaced by the defaults, or an
// error when a field is out of range.
func (o RingOptions) withDefaults() (RingOptions, error) {
	if o.ReplicationFactor == 0 {
		o.ReplicationFactor = DefaultReplicationFactor
	}
	if o.Load == 0 {
		o.Load = DefaultLoad
	}
	if o.ReplicationFactor < minReplicationFactor || o.ReplicationFactor > maxReplicationFactor {
		return o, invalidf(ErrRingOptions, "ring replication factor %d is out of range %d..%d", o.ReplicationFactor, minReplicationFactor, maxReplicationFactor)
	}
	if math.IsNaN(o.Load) || o.Load < 1 || o.Load > maxLoad {
		return o, invalidf(ErrRingOptions, "ring load %v is out of range [1, %d]", o.Load, maxLoad)
	}
	return o, nil
}

// ringMember is a shard on the ring. Its ring name ends in a separator that
// shard names cannot contain, so the library's point keys (name + index) of two
// shards never coincide ("s1"+"10" would equal "s11"+"0" otherwise).
type ringMember string

func (m ringMember) String() string { return string(m) + ":" }

// ringHasher is xxhash64 for the consistent library.
type ringHasher struct{}

func (ringHasher) Sum64(b []byte) uint64 { return xxhash.Sum64(b) }

// ringOwners returns the owner the consistent-hash ring proposes for each of
// partitions partitions over shards. shards must already pass ValidateLayout.
//
// It checks everything that would make the library panic before calling it:
// options in range, enough bounded-load capacity for every partition, and no
// two ring points with the same hash.
func ringOwners(shards []string, partitions int, opts RingOptions) ([]string, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	n := len(shards)
	// The library caps each member at ceil(floor(P/N)*Load) partitions.
	perMember := math.Ceil(float64(partitions/n) * opts.Load)
	if perMember*float64(n) < float64(partitions) {
		return nil, invalidf(ErrRingOptions, "ring load %v is too small to place %d partitions on %d shards", opts.Load, partitions, n)
	}
	if err := checkRingPoints(shards, opts.ReplicationFactor); err != nil {
		return nil, err
	}

	sorted := append([]string(nil), shards...)
	sort.Strings(sorted)
	members := make([]consistent.Member, len(sorted))
	for i, s := range sorted {
		members[i] = ringMember(s)
	}
	ring := consistent.New(members, consistent.Config{
		Hasher:            ringHasher{},
		PartitionCount:    partitions,
		ReplicationFactor: opts.ReplicationFactor,
		Load:              opts.Load,
	})
	owners := make([]string, partitions)
	for p := range owners {
		m, ok := ring.GetPartitionOwner(p).(ringMember)
		if !ok {
			return nil, fmt.Errorf("router: ring left partition %d without an owner", p)
		}
		owners[p] = string(m)
	}
	return owners, nil
}

// checkRingPoints returns an error when two ring points hash alike: the
// library would then lose a point, and with it the guarantee that its walk
// reaches every member. With a 64-bit hash this does not happen in practice.
func checkRingPoints(shards []string, replication int) error {
	seen := make(map[uint64]string, len(shards)*replication)
	for _, s := range shards {
		name := ringMember(s).String()
		for i := 0; i < replication; i++ {
			h := xxhash.Sum64String(fmt.Sprintf("%s%d", name, i))
			if other, dup := seen[h]; dup {
				return invalidf(ErrRingOptions, "ring points of shards %q and %q collide; choose another replication factor", other, s)
			}
			seen[h] = s
		}
	}
	return nil
}
