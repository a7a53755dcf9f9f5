package shard_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shardstock/shardstock/inventory"
	"github.com/shardstock/shardstock/shard"
)

// A check of the store's own that finds its rows out of step (here a held line whose product
// no longer holds the reserved quantity) is an internal error: code internal, a generic
// message, the cause kept in Err for the logs. It is not shard_unavailable: the shard answered,
// and retrying cannot help. A shard that cannot be reached is still shard_unavailable.
func TestStoreCheckFailureIsInternal(t *testing.T) {
	ctx := context.Background()
	st := lotStore(t)
	newProduct(t, st, "OUT-OF-STEP", 0)
	adjust(t, st, "OUT-OF-STEP", "5")
	h := shard.Header{ID: "r1", Partition: 1, OrderID: "o",
		Lines: []shard.LineRequest{{SKU: "OUT-OF-STEP", Partition: 1, Quantity: *dec(t, "2"), Requested: "2"}}}
	if _, err := st.CreateLocal(ctx, h, time.Hour); err != nil {
		t.Fatal(err)
	}
	// Corruption made around the store: the product forgets its reservation.
	if _, err := st.DB().Exec("UPDATE products SET reserved = 0 WHERE sku = 'OUT-OF-STEP'"); err != nil {
		t.Fatal(err)
	}
	_, _, err := st.FinishLocal(ctx, "r1", 1, []inventory.Status{inventory.StatusHeld}, inventory.StatusCommitted,
		shard.ActionCommit, inventory.KindCommit, true)
	var de *inventory.Error
	if !errors.As(err, &de) || de.Code != inventory.CodeInternal {
		t.Fatalf("commit against a product out of step: %v (code %s), want code internal", err, inventory.ErrorCode(err))
	}
	if de.Err == nil || !strings.Contains(de.Err.Error(), "does not hold the reserved quantity") {
		t.Errorf("the cause is not kept for the logs: %#v", de.Err)
	}
	if strings.Contains(de.Message, "reserved quantity") || strings.Contains(de.Message, "unavailable") {
		t.Errorf("message %q shows internals or calls the shard unavailable", de.Message)
	}
	if h, err := st.GetHeader(ctx, "r1", 1); err != nil || h.Status != inventory.StatusHeld {
		t.Errorf("the failed commit changed the reservation: %s %v", h.Status, err)
	}

	// Nothing listens on port 1 of the loopback: connection refused, shard_unavailable.
	gone, err := shard.Open("gone", "root@tcp(127.0.0.1:1)/nothing", shard.PoolOptions{MaxOpen: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer gone.Close()
	if _, err := gone.GetProduct(ctx, "OUT-OF-STEP", 1); !inventory.IsCode(err, inventory.CodeShardUnavailable) {
		t.Errorf("unreachable shard: %v (code %s), want shard_unavailable", err, inventory.ErrorCode(err))
	}
}
