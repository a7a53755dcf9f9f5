package gateway_test

import (
	"net/http"
	"testing"

	"github.com/shardstock/shardstock/gateway"
	"github.com/shardstock/shardstock/tools/clustertest"
)

// BenchmarkAdmit measures the access check every authenticated request pays before its handler
// runs: parse the bearer token, find the key, compare the SHA-256 of its secret, check the
// scope and the (unlimited) rate limit. It asserts nothing about time.
//
//	go test -run '^$' -bench BenchmarkAdmit ./gateway/
func BenchmarkAdmit(b *testing.B) {
	c := clustertest.New(b, clustertest.Options{Shards: 1})
	g := c.StartGateway(b, gateway.Options{DisableWorkers: true}, nil)
	h := http.Header{"Authorization": {"Bearer " + c.AdminToken}}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := g.Server.AdmitForTest(h, http.MethodGet, "/v1/products/{sku}"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
