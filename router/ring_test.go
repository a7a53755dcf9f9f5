package router

import (
	"math"
	"reflect"
	"testing"
)

func TestRingOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    RingOptions
		want    RingOptions
		wantErr error
	}{
		{"zero takes defaults", RingOptions{}, RingOptions{DefaultReplicationFactor, DefaultLoad}, nil},
		{"explicit", RingOptions{ReplicationFactor: 7, Load: 1.5}, RingOptions{7, 1.5}, nil},
		{"load one", RingOptions{Load: 1}, RingOptions{DefaultReplicationFactor, 1}, nil},
		{"replication one", RingOptions{ReplicationFactor: 1}, RingOptions{}, ErrRingOptions},
		{"replication negative", RingOptions{ReplicationFactor: -3}, RingOptions{}, ErrRingOptions},
		{"replication huge", RingOptions{ReplicationFactor: 1001}, RingOptions{}, ErrRingOptions},
		{"load below one", RingOptions{Load: 0.9}, RingOptions{}, ErrRingOptions},
		{"load negative", RingOptions{Load: -1}, RingOptions{}, ErrRingOptions},
		{"load NaN", RingOptions{Load: math.NaN()}, RingOptions{}, ErrRingOptions},
		{"load Inf", RingOptions{Load: math.Inf(1)}, RingOptions{}, ErrRingOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.withDefaults()
			checkErr(t, err, tt.wantErr)
			if err == nil && got != tt.want {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRingOwners(t *testing.T) {
	tests := []struct {
		name       string
		shards     []string
		partitions int
		opts       RingOptions
		wantErr    error
	}{
		{"default", shardNames(4), DefaultPartitions, RingOptions{}, nil},
		{"single shard single partition", []string{"a"}, 1, RingOptions{}, nil},
		{"single shard minimal replication", []string{"a"}, 5, RingOptions{ReplicationFactor: 2}, nil},
		{"shards equal partitions", shardNames(16), 16, RingOptions{}, nil},
		// "s1"+"10" and "s11"+"0" would be the same ring point without the separator.
		{"prefix names", []string{"s1", "s11", "s110", "s"}, 64, RingOptions{ReplicationFactor: 200}, nil},
		{"load one divisible", shardNames(4), 64, RingOptions{Load: 1}, nil},
		{"load one not divisible", shardNames(3), 64, RingOptions{Load: 1}, ErrRingOptions},
		{"load barely above one", shardNames(3), 64, RingOptions{Load: 1 + 1e-17}, ErrRingOptions},
		{"bad options", shardNames(3), 64, RingOptions{ReplicationFactor: 1}, ErrRingOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			owners, err := ringOwners(tt.shards, tt.partitions, tt.opts)
			checkErr(t, err, tt.wantErr)
			if err != nil {
				return
			}
			if len(owners) != tt.partitions {
				t.Fatalf("got %d owners, want %d", len(owners), tt.partitions)
			}
			inSet := map[string]bool{}
			for _, s := range tt.shards {
				inSet[s] = true
			}
			for p, s := range owners {
				if !inSet[s] {
					t.Fatalf("partition %d owned by %q, not a shard", p, s)
				}
			}
			// Same set in another order → same proposal.
			rev := append([]string(nil), tt.shards...)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			again, err := ringOwners(rev, tt.partitions, tt.opts)
			if err != nil || !reflect.DeepEqual(again, owners) {
				t.Errorf("ring proposal depends on shard order (err %v)", err)
			}
		})
	}
}

func TestCheckRingPoints(t *testing.T) {
	if err := checkRingPoints([]string{"s1", "s11", "s111"}, maxReplicationFactor); err != nil {
		t.Fatalf("checkRingPoints = %v, want nil", err)
	}
}
