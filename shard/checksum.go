package shard

import (
	"context"
	"fmt"
	"strings"
)

// PartitionChecksum summarises a partition's rows on one shard: per table a row count and a sum
// of row CRC32s (the change log also sums its deltas). Equal checksums on source and target mean
// the copy is complete.
type PartitionChecksum map[string]string

// Checksum computes the checksum of the partition on this shard, over every table copied by row
// image and the change log. origin is the name of the shard where the partition's change rows
// were written natively: such rows count with origin (origin, seq), exactly as their copies
// elsewhere carry it, so the source and the target give the same figure.
func (m *Mover) Checksum(ctx context.Context, partition int, origin string) (PartitionChecksum, error) {
	out := PartitionChecksum{}
	for _, t := range rowTables {
		cols := make([]string, len(t.columns))
		for i, c := range t.columns {
			cols[i] = "COALESCE(" + c + ", '~')"
			if c == "response_body" {
				cols[i] = "COALESCE(MD5(" + c + "), '~')"
			}
		}
		q := "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', " + strings.Join(cols, ", ") + "))), 0) FROM " + string(t.name) + " WHERE partition_id = ?"
		var n, sum string
		if err := m.s.db.QueryRowContext(ctx, q, partition).Scan(&n, &sum); err != nil {
			return nil, fmt.Errorf("checksum %s: %w", t.name, m.s.classify(err))
		}
		out[string(t.name)] = n + "/" + sum
	}
	var n, sumOH, sumRS, crc string
	err := m.s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(delta_on_hand), 0), COALESCE(SUM(delta_reserved), 0),
		COALESCE(SUM(CRC32(CONCAT_WS('|', COALESCE(origin_shard, ?), COALESCE(origin_seq, seq), sku, kind, delta_on_hand, delta_reserved, ref, actor, request_id))), 0)
		FROM changes WHERE partition_id = ?`, origin, partition).Scan(&n, &sumOH, &sumRS, &crc)
	if err != nil {
		return nil, fmt.Errorf("checksum changes: %w", m.s.classify(err))
	}
	out["changes"] = n + "/" + sumOH + "/" + sumRS + "/" + crc
	return out, nil
}

// Diff names the tables whose checksums differ, with both figures.
func (a PartitionChecksum) Diff(b PartitionChecksum) []string {
	var out []string
	for k, v := range a {
		if b[k] != v {
			out = append(out, fmt.Sprintf("%s (%s vs %s)", k, v, b[k]))
		}
	}
	return out
}
