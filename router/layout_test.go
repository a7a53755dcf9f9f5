package router

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateShardName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string
	}{
		{"a", ""},
		{"shard-01", ""},
		{"Shard_A-9", ""},
		{strings.Repeat("x", 64), ""},
		{"", "is empty"},
		{strings.Repeat("x", 65), "65 bytes long"},
		{"x y", `shard name "x y" is invalid: byte 1`},
		{"a:b", "is not a letter"},
		{"a/b", "is not a letter"},
		{"é", "is not a letter"},
		{"a\x00", "is not a letter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateShardName(tt.name)
			checkErr(t, err, tt.wantErr)
		})
	}
}

func TestValidateLayout(t *testing.T) {
	tests := []struct {
		name       string
		shards     []string
		partitions int
		wantErr    string
	}{
		{"default", shardNames(4), DefaultPartitions, ""},
		{"one and one", []string{"a"}, 1, ""},
		{"as many shards as partitions", shardNames(8), 8, ""},
		{"max partitions", []string{"a"}, MaxPartitions, ""},
		{"zero partitions", []string{"a"}, 0, "out of range"},
		{"negative partitions", []string{"a"}, -1, "out of range"},
		{"too many partitions", []string{"a"}, MaxPartitions + 1, "out of range"},
		{"no shards", nil, 16, "no shards"},
		{"more shards than partitions", shardNames(9), 8, "only 8 partitions"},
		{"invalid name", []string{"a", "b c"}, 16, `shard name "b c" is invalid`},
		{"duplicate", []string{"a", "b", "a"}, 16, `shard "a" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, ValidateLayout(tt.shards, tt.partitions), tt.wantErr)
		})
	}
}

// checkErr fails t unless err is nil when wantErr is empty, or otherwise an
// ErrInvalid whose message contains wantErr.
func checkErr(t *testing.T, err error, wantErr string) {
	t.Helper()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error = %v, want one containing %q", err, wantErr)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
}
