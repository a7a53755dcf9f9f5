package cluster

import (
	"errors"
	"reflect"
	"testing"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// Merging the errors of several shards keeps what the client needs: every unavailable shard's
// name, the lock_contention reason of a busy shard (also next to a down one), and a busy shard
// alone stays shard_unavailable (it used to become an empty insufficient_stock).
func TestMergeErrorsKeepsShardsAndReason(t *testing.T) {
	down := func(name string) error {
		return &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "shard " + name + " is unavailable: connection failed",
			Details: map[string]any{"shards": []string{name}}}
	}
	busy := &inventory.Error{Code: inventory.CodeShardUnavailable, Message: "shard s2 is busy",
		Details: map[string]any{"shards": []string{}, "reason": shard.ReasonLockContention}}
	short := inventory.Insufficient(inventory.ShortLine{SKU: "A"})
	internal := &inventory.Error{Code: inventory.CodeInternal, Message: "internal error"}
	for _, tc := range []struct {
		name    string
		errs    []error
		code    inventory.Code
		details map[string]any
	}{
		{"busy alone", []error{busy}, inventory.CodeShardUnavailable,
			map[string]any{"shards": []string{}, "reason": shard.ReasonLockContention}},
		{"busy and short", []error{short, busy}, inventory.CodeShardUnavailable,
			map[string]any{"shards": []string{}, "reason": shard.ReasonLockContention}},
		{"down and busy", []error{down("s1"), busy}, inventory.CodeShardUnavailable,
			map[string]any{"shards": []string{"s1"}, "reason": shard.ReasonLockContention}},
		{"two down", []error{down("s1"), down("s3")}, inventory.CodeShardUnavailable,
			map[string]any{"shards": []string{"s1", "s3"}}},
		{"internal wins", []error{busy, internal}, inventory.CodeInternal, nil},
		{"short only", []error{short}, inventory.CodeInsufficientStock, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := mergeErrors(tc.errs)
			var de *inventory.Error
			if !errors.As(err, &de) || de.Code != tc.code {
				t.Fatalf("merged = %v, want code %s", err, tc.code)
			}
			if tc.details != nil && !reflect.DeepEqual(de.Details, tc.details) {
				t.Errorf("details = %#v, want %#v", de.Details, tc.details)
			}
		})
	}
}
