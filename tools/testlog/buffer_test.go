package testlog_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/shardstock/shardstock/tools/testlog"
)

// Concurrent writers and a reader: every line arrives whole, and the race detector is quiet.
func TestBufferConcurrentWritersAndReader(t *testing.T) {
	var b testlog.Buffer
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				fmt.Fprintf(&b, "w%d-%d\n", w, i)
				_ = b.String()
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 400 {
		t.Fatalf("%d lines, want 400", len(lines))
	}
}
