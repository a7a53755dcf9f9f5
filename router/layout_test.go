package router

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateShardName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr error
	}{
		{"a", nil},
		{"shard-01", nil},
		{"Shard_A-9", nil},
		{strings.Repeat("x", 64), nil},
		{"", ErrShardName},
		{strings.Repeat("x", 65), ErrShardName},
		{"x y", ErrShardName},
		{"a:b", ErrShardName},
		{"a/b", ErrShardName},
		{"é", ErrShardName},
		{"a\x00", ErrShardName},
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
		wantErr    error
	}{
		{"default", shardNames(4), DefaultPartitions, nil},
		{"one and one", []string{"a"}, 1, nil},
		{"as many shards as partitions", shardNames(8), 8, nil},
		{"max partitions", []string{"a"}, MaxPartitions, nil},
		{"zero partitions", []string{"a"}, 0, ErrPartitionCount},
		{"negative partitions", []string{"a"}, -1, ErrPartitionCount},
		{"too many partitions", []string{"a"}, MaxPartitions + 1, ErrPartitionCount},
		{"no shards", nil, 16, ErrShardCount},
		{"more shards than partitions", shardNames(9), 8, ErrShardCount},
		{"invalid name", []string{"a", "b c"}, 16, ErrShardName},
		{"duplicate", []string{"a", "b", "a"}, 16, ErrDuplicateShard},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, ValidateLayout(tt.shards, tt.partitions), tt.wantErr)
		})
	}
}

// checkErr fails t unless err is nil when want is nil, or otherwise an error of kind want
// (which always wraps ErrInvalid) with one "router: " prefix in its message.
func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one of kind %v", err, want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %v does not wrap ErrInvalid", err)
	}
	if msg := err.Error(); !strings.HasPrefix(msg, "router: ") || strings.Count(msg, "router: ") != 1 {
		t.Errorf("error %q should carry one router: prefix", msg)
	}
}
