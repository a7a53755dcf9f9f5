package gateway

import (
	"bytes"
	"testing"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Cursors are keyed by the cluster's random secret: one sealed with another secret (another
// cluster, or the old key derived from the meta DSN) does not open, and a history cursor opens
// only for its own SKU, untouched.
func TestCursorsNeedTheClusterSecret(t *testing.T) {
	a, b := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	f := shard.ReportFilter{}
	c := newCursorCodec(a, 64).seal("SKU-7", f)
	if sku, err := newCursorCodec(a, 64).open(c, f); err != nil || sku != "SKU-7" {
		t.Fatalf("own listing cursor: %q, %v", sku, err)
	}
	if _, err := newCursorCodec(b, 64).open(c, f); !inventory.IsCode(err, inventory.CodeValidation) {
		t.Errorf("listing cursor of another secret: %v", err)
	}

	pos := shard.HistoryPosition{OriginShard: "shard-2", OriginSeq: 1<<40 + 3, OnHand: -5, Reserved: 1<<62 + 1}
	h := newHistoryCodec(a).seal(pos, "SKU-7")
	if got, err := newHistoryCodec(a).open(h, "SKU-7"); err != nil || got != pos {
		t.Fatalf("own history cursor: %+v, %v", got, err)
	}
	if bytes.Contains([]byte(h), []byte("shard")) {
		t.Errorf("history cursor shows the shard name: %s", h)
	}
	for name, bad := range map[string]struct{ cursor, sku string }{
		"other secret": {newHistoryCodec(b).seal(pos, "SKU-7"), "SKU-7"},
		"other sku":    {h, "SKU-8"},
		"truncated":    {h[:len(h)-1], "SKU-7"},
		"not base64":   {"!!", "SKU-7"},
		"empty":        {"", "SKU-7"},
	} {
		if _, err := newHistoryCodec(a).open(bad.cursor, bad.sku); !inventory.IsCode(err, inventory.CodeValidation) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
