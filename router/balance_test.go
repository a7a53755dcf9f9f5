package router

import (
	"math"
	"testing"
)

func TestPartitionBalance(t *testing.T) {
	tests := []struct {
		name string
		m    Map
		want Balance
	}{
		{"empty", Map{}, Balance{}},
		{"one shard", Map{Owners: []string{"a", "a"}}, Balance{Shards: 1, Max: 2, Min: 2, Avg: 2, MaxOverAvg: 1}},
		{"even", Map{Owners: []string{"a", "b", "a", "b"}}, Balance{Shards: 2, Max: 2, Min: 2, Avg: 2, MaxOverAvg: 1}},
		{"uneven", Map{Owners: []string{"a", "a", "a", "b"}}, Balance{Shards: 2, Max: 3, Min: 1, Avg: 2, MaxOverAvg: 1.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PartitionBalance(tt.m); !balanceEqual(got, tt.want) {
				t.Errorf("PartitionBalance = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRowBalance(t *testing.T) {
	m := Map{Owners: []string{"a", "b", "a", "c"}}
	tests := []struct {
		name string
		m    Map
		rows map[int]int64
		want Balance
	}{
		{"empty map", Map{}, map[int]int64{0: 5}, Balance{}},
		{"no rows", m, nil, Balance{Shards: 3}},
		{"weighted", m, map[int]int64{0: 10, 1: 30, 2: 20, 3: 0}, Balance{Shards: 3, Max: 30, Min: 0, Avg: 20, MaxOverAvg: 1.5}},
		{"missing count as zero", m, map[int]int64{1: 9}, Balance{Shards: 3, Max: 9, Min: 0, Avg: 3, MaxOverAvg: 3}},
		{"negative and out of range ignored", m, map[int]int64{0: -50, 1: 6, 2: 3, 7: 1000, -1: 1000}, Balance{Shards: 3, Max: 6, Min: 0, Avg: 3, MaxOverAvg: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RowBalance(tt.m, tt.rows); !balanceEqual(got, tt.want) {
				t.Errorf("RowBalance = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func balanceEqual(a, b Balance) bool {
	return a.Shards == b.Shards && a.Max == b.Max && a.Min == b.Min &&
		math.Abs(a.Avg-b.Avg) < 1e-9 && math.Abs(a.MaxOverAvg-b.MaxOverAvg) < 1e-9
}
