package router

import (
	"fmt"
	"testing"
)

func TestPartition(t *testing.T) {
	tests := []struct {
		sku        string
		partitions int
		want       int
	}{
		{"", 1, 0},
		{"ABC-123", 1, 0},
		// Fixed values (xxhash64("") = 0xef46db3751d8e999); golden_test.go pins hundreds more.
		{"", DefaultPartitions, 0xef46db3751d8e999 % DefaultPartitions},
		{"", MaxPartitions, 0xef46db3751d8e999 % MaxPartitions},
		{"ABC-123", 0, -1},
		{"ABC-123", -5, -1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q/%d", tt.sku, tt.partitions), func(t *testing.T) {
			if got := Partition(tt.sku, tt.partitions); got != tt.want {
				t.Errorf("Partition(%q, %d) = %d, want %d", tt.sku, tt.partitions, got, tt.want)
			}
		})
	}
}

func TestPartitionSpread(t *testing.T) {
	const skus, partitions = 200000, 64
	counts := make([]int, partitions)
	for i := 0; i < skus; i++ {
		p := Partition(fmt.Sprintf("SKU-%07d", i), partitions)
		if p < 0 || p >= partitions {
			t.Fatalf("partition %d out of range", p)
		}
		counts[p]++
	}
	avg := skus / partitions
	for p, c := range counts {
		// ±10% of the average is ~8 standard deviations at this sample size.
		if c < avg*9/10 || c > avg*11/10 {
			t.Errorf("partition %d holds %d SKUs, average %d", p, c, avg)
		}
	}
}

func BenchmarkPartition(b *testing.B) {
	skus := make([]string, 1024)
	for i := range skus {
		skus[i] = fmt.Sprintf("SKU-%08d-XL-BLUE", i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_ = Partition(skus[i%len(skus)], DefaultPartitions)
	}
}
