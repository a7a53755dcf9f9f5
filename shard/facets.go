package shard

import "database/sql"

// A Store's methods are split along the domain into facets, each a view of the same shard (the
// same pool, the same error conversion at the edge) that owns its own statements: the Store
// itself serves the online path (products, stock, reservations, lots, alerts, idempotency,
// reports); Upkeep is the background workers' passes over a whole shard; Mover is what
// resharding does to a partition; Ledger is what the verifier and the archive read (and the
// archive deletes); Relay is what the event relay reads. Every table still has one owner: a
// statement lives on exactly one of them.

// Upkeep is the view of the gateway's background workers (Store.Upkeep): passes over the whole
// shard that repair alerts, remove expired lot quantity, purge expired idempotency keys and
// find reservation headers that need recovery. Each pass is idempotent, so gateways may
// overlap.
type Upkeep struct{ s *Store }

// Mover is the resharding mover's view of a shard (Store.Mover): sync points, chunked copies
// by row image, change-row copies, catch-up re-copies, partition purges, fences and checksums.
// Every write to a target is an upsert or an origin-keyed insert, so any step can be repeated.
type Mover struct{ s *Store }

// Ledger is the whole-shard view of the cluster verifier and the ledger archive (Store.Ledger):
// each product beside its ledger, every line and header, and the archive's reads and deletes
// of old change rows.
type Ledger struct{ s *Store }

// Relay is the event relay's view of a shard's change log (Store.Relay): events by seq and the
// relay lease.
type Relay struct{ s *Store }

// Upkeep returns the shard's background-pass facet.
func (s *Store) Upkeep() *Upkeep { return s.upkeep }

// Mover returns the shard's mover facet.
func (s *Store) Mover() *Mover { return s.mover }

// Ledger returns the shard's verifier and archive facet.
func (s *Store) Ledger() *Ledger { return s.ledger }

// Relay returns the shard's event relay facet.
func (s *Store) Relay() *Relay { return s.relay }

// newStore builds a Store and its facets over db.
func newStore(name string, db *sql.DB) *Store {
	s := &Store{name: name, db: db}
	s.upkeep, s.mover, s.ledger, s.relay = &Upkeep{s}, &Mover{s}, &Ledger{s}, &Relay{s}
	return s
}

// Jobs is the resharding job store of the metadata store (Meta.Jobs): jobs, their moves and the
// one "active job" query.
type Jobs struct{ m *Meta }

// Sinks is the event delivery state of the metadata store (Meta.Sinks): webhook subscriptions,
// each sink's cursor in each shard's change log, the relays' horizons and the dead letters.
type Sinks struct{ m *Meta }

// Jobs returns the metadata store's resharding job store.
func (m *Meta) Jobs() *Jobs { return m.jobs }

// Sinks returns the metadata store's event delivery state.
func (m *Meta) Sinks() *Sinks { return m.sinks }

// newMeta builds a Meta and its facets over db.
func newMeta(db *sql.DB) *Meta {
	m := &Meta{db: db}
	m.jobs, m.sinks = &Jobs{m}, &Sinks{m}
	return m
}
