package saga

import (
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strconv"

	"github.com/shardstock/shardstock/inventory"
)

// NewID makes a reservation id that encodes the header's partition: "r", five digits of
// partition, 24 characters of base32hex. Under an Idempotency-Key the tail is derived from the
// key's marker, so a re-executed create finds its own header; otherwise it is random.
func NewID(partition int, marker []byte) string {
	var tail []byte
	if marker != nil {
		tail = marker[:15]
	} else {
		tail = make([]byte, 15)
		_, _ = rand.Read(tail)
	}
	return fmt.Sprintf("r%05d", partition) + base32.HexEncoding.WithPadding(base32.NoPadding).EncodeToString(tail)
}

// IDPartition extracts the header partition from an id (false when malformed or out of range).
func IDPartition(id string, partitions int) (int, bool) {
	if len(id) != 30 || id[0] != 'r' {
		return 0, false
	}
	p, err := strconv.Atoi(id[1:6])
	if err != nil || p < 0 || p >= partitions {
		return 0, false
	}
	for _, c := range id[6:] {
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'V') {
			return 0, false
		}
	}
	return p, true
}

// PublicStatus maps the saga's in-flight statuses to what a client may see: an expiring header
// is, for the client, already being released.
func PublicStatus(st inventory.Status) inventory.Status {
	if st == inventory.StatusExpiring {
		return inventory.StatusReleasing
	}
	return st
}
