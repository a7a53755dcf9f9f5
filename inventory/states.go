package inventory

// Status is a reservation header's status. Pending, committing, releasing and expiring are
// the saga's in-flight states; held, committed, released and expired are the ones the
// contract names.
type Status string

// Reservation statuses.
const (
	StatusPending    Status = "pending"
	StatusHeld       Status = "held"
	StatusCommitting Status = "committing"
	StatusReleasing  Status = "releasing"
	StatusExpiring   Status = "expiring"
	StatusCommitted  Status = "committed"
	StatusReleased   Status = "released"
	StatusExpired    Status = "expired"
)

// Final reports whether the status is terminal.
func (s Status) Final() bool {
	return s == StatusCommitted || s == StatusReleased || s == StatusExpired
}

// LineStatus is a reservation line's status. A released line with quantity 0 is a tombstone:
// it stops a late reserve of a line whose reservation was already rolled back.
type LineStatus string

// Reservation line statuses.
const (
	LineHeld      LineStatus = "held"
	LineCommitted LineStatus = "committed"
	LineReleased  LineStatus = "released"
)

// FenceState is the state of a partition's fence row on one shard.
type FenceState string

// Fence states. Writes are accepted only where the partition is owned.
const (
	FenceOwned     FenceState = "owned"
	FenceImporting FenceState = "importing"
	FenceMovedOut  FenceState = "moved_out"
)

// ChangeKind is the kind of a change-log row.
type ChangeKind string

// Change kinds of stock movements and product writes.
const (
	KindCreate    ChangeKind = "create"    // product created
	KindProduct   ChangeKind = "product"   // product attributes updated
	KindReserve   ChangeKind = "reserve"   // a reservation line held: delta_reserved = +q
	KindSale      ChangeKind = "sale"      // a line created committed: delta_on_hand = -q
	KindCommit    ChangeKind = "commit"    // a held line committed: both deltas -q
	KindRelease   ChangeKind = "release"   // a held line released: delta_reserved = -q
	KindExpire    ChangeKind = "expire"    // a held line expired, or expired lot quantity removed
	KindTombstone ChangeKind = "tombstone" // a release of a line that was never reserved
)

// Adjustment reasons: the change kinds of POST /adjustments and PUT /stock.
const (
	KindReceive    ChangeKind = "receive"
	KindReturn     ChangeKind = "return"
	KindCorrection ChangeKind = "correction"
	KindDamage     ChangeKind = "damage"
	KindCount      ChangeKind = "count"
)

// Reasons lists the adjustment reasons a client may give, in the order docs name them.
var Reasons = []ChangeKind{KindReceive, KindReturn, KindCorrection, KindDamage, KindCount}

// IsReason reports whether k is an adjustment reason a client may give.
func IsReason(k ChangeKind) bool {
	for _, r := range Reasons {
		if k == r {
			return true
		}
	}
	return false
}

// Change kinds of lot tracking. Refs: lot_receive and expire carry the lot code; lot_take and
// lot_conflict carry "<lot code>:<quantity>" in the product's scale.
const (
	KindLotReceive  ChangeKind = "lot_receive"
	KindLotTake     ChangeKind = "lot_take"
	KindLotExpire   ChangeKind = "expire"
	KindLotConflict ChangeKind = "lot_conflict"
)

// Change kinds of alert writes (zero deltas, ref = alert id).
const (
	KindAlertLow      ChangeKind = "alert:low"      // a low_stock alert opened
	KindAlertOut      ChangeKind = "alert:out"      // an out_of_stock alert opened
	KindAlertResolved ChangeKind = "alert:resolved" // an alert resolved (the stock recovered)
	KindAlertAck      ChangeKind = "alert:ack"      // an alert was acknowledged
	KindAlertSync     ChangeKind = "alert:sync"     // bookkeeping repaired by reconcile, no alert changed
)

// headerKindPrefix prefixes the change kind of a reservation header write.
const headerKindPrefix = "h:"

// HeaderKind is the change kind logged when a reservation header takes status st.
func HeaderKind(st Status) ChangeKind { return ChangeKind(headerKindPrefix + string(st)) }

// HeaderStatus returns the status of a header change kind, and whether k is one.
func (k ChangeKind) HeaderStatus() (Status, bool) {
	if len(k) > len(headerKindPrefix) && string(k[:len(headerKindPrefix)]) == headerKindPrefix {
		return Status(k[len(headerKindPrefix):]), true
	}
	return "", false
}

// AlertKind is the kind of a stock alert.
type AlertKind string

// Alert kinds.
const (
	AlertLowStock   AlertKind = "low_stock"
	AlertOutOfStock AlertKind = "out_of_stock"
)

// AlertStatus is a stock alert's status. Open and acknowledged alerts are both active; only
// resolution ends one.
type AlertStatus string

// Alert statuses.
const (
	AlertOpen         AlertStatus = "open"
	AlertAcknowledged AlertStatus = "acknowledged"
	AlertResolved     AlertStatus = "resolved"
)

// ShardState is a shard's state in the metadata store.
type ShardState string

// Shard states.
const (
	ShardActive  ShardState = "active"
	ShardRemoved ShardState = "removed"
)

// JobState is a resharding job's state.
type JobState string

// Job states.
const (
	JobPlanned JobState = "planned"
	JobRunning JobState = "running"
	JobDone    JobState = "done"
	JobAborted JobState = "aborted"
)

// Active reports whether a job in this state still owns the cluster's topology changes.
func (s JobState) Active() bool { return s == JobPlanned || s == JobRunning }

// MoveState is the state of one partition move in a job: pending → importing (target fenced,
// cleared) → copied (rows copied, catching up) → done (cut over); or aborted.
type MoveState string

// Move states.
const (
	MovePending   MoveState = "pending"
	MoveImporting MoveState = "importing"
	MoveCopied    MoveState = "copied"
	MoveDone      MoveState = "done"
	MoveAborted   MoveState = "aborted"
)
