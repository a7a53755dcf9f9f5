package router

import (
	"reflect"
	"testing"
)

func TestMapAccessors(t *testing.T) {
	tests := []struct {
		name       string
		m          Map
		wantShards []string
		wantCounts map[string]int
	}{
		{"empty", Map{}, []string{}, map[string]int{}},
		{"one", Map{Owners: []string{"a"}}, []string{"a"}, map[string]int{"a": 1}},
		{"several", Map{Owners: []string{"b", "a", "b", "c", "b"}}, []string{"a", "b", "c"}, map[string]int{"a": 1, "b": 3, "c": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Partitions(); got != len(tt.m.Owners) {
				t.Errorf("Partitions() = %d, want %d", got, len(tt.m.Owners))
			}
			if got := tt.m.Shards(); !reflect.DeepEqual(got, tt.wantShards) {
				t.Errorf("Shards() = %v, want %v", got, tt.wantShards)
			}
			if got := tt.m.Counts(); !reflect.DeepEqual(got, tt.wantCounts) {
				t.Errorf("Counts() = %v, want %v", got, tt.wantCounts)
			}
		})
	}
}

func TestMapOwner(t *testing.T) {
	m := Map{Owners: []string{"a", "b", "c"}}
	tests := []struct {
		partition int
		want      string
		wantOK    bool
	}{
		{0, "a", true},
		{2, "c", true},
		{3, "", false},
		{-1, "", false},
		{Partition("x", 0), "", false},
	}
	for _, tt := range tests {
		got, ok := m.Owner(tt.partition)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("Owner(%d) = %q, %v; want %q, %v", tt.partition, got, ok, tt.want, tt.wantOK)
		}
	}
	if _, ok := (Map{}).Owner(0); ok {
		t.Error("Owner(0) on an empty map reported ok")
	}
}

func TestMapValidate(t *testing.T) {
	tests := []struct {
		name    string
		m       Map
		wantErr error // substring; "" means valid
	}{
		{"valid", Map{Owners: []string{"a", "b-1", "C_2"}}, nil},
		{"max size", Map{Owners: make([]string, MaxPartitions)}, ErrShardName},
		{"empty", Map{}, ErrPartitionCount},
		{"too big", Map{Owners: make([]string, MaxPartitions+1)}, ErrPartitionCount},
		{"empty owner", Map{Owners: []string{"a", ""}}, ErrShardName},
		{"bad owner", Map{Owners: []string{"x y"}}, ErrShardName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.m.Validate(), tt.wantErr)
		})
	}
}
