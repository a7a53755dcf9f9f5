package gateway_test

import (
	"testing"

	"github.com/shardstock/shardstock/tools/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }
