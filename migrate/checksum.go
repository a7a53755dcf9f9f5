package migrate

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// PartitionChecksum summarises a partition's rows on one shard: per table a row count and a
// sum of row CRC32s (the change log also sums its deltas). Equal checksums on source and target
// mean the copy is complete.
type PartitionChecksum map[string]string

// checksumPartition computes the checksum of the partition on db. selfName is the shard's own
// name: change rows written natively there count with origin (selfName, seq), exactly as their
// copies elsewhere carry it.
func checksumPartition(ctx context.Context, db *sql.DB, partition int, selfName string) (PartitionChecksum, error) {
	out := PartitionChecksum{}
	for _, t := range rowTables {
		cols := make([]string, len(t.columns))
		for i, c := range t.columns {
			cols[i] = "COALESCE(" + c + ", '~')"
			if c == "response_body" {
				cols[i] = "COALESCE(MD5(" + c + "), '~')"
			}
		}
		q := "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', " + strings.Join(cols, ", ") + "))), 0) FROM " + t.name + " WHERE partition_id = ?"
		var n, sum string
		if err := db.QueryRowContext(ctx, q, partition).Scan(&n, &sum); err != nil {
			return nil, fmt.Errorf("checksum %s: %w", t.name, err)
		}
		out[t.name] = n + "/" + sum
	}
	var n, sumOH, sumRS, crc string
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(delta_on_hand), 0), COALESCE(SUM(delta_reserved), 0),
		COALESCE(SUM(CRC32(CONCAT_WS('|', COALESCE(origin_shard, ?), COALESCE(origin_seq, seq), sku, kind, delta_on_hand, delta_reserved, ref))), 0)
		FROM changes WHERE partition_id = ?`, selfName, partition).Scan(&n, &sumOH, &sumRS, &crc)
	if err != nil {
		return nil, fmt.Errorf("checksum changes: %w", err)
	}
	out["changes"] = n + "/" + sumOH + "/" + sumRS + "/" + crc
	return out, nil
}

// diff names the tables whose checksums differ.
func (a PartitionChecksum) diff(b PartitionChecksum) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s (%s vs %s)", k, v, b[k]))
		}
	}
	return out
}
