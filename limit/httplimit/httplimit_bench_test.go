package httplimit_test

import (
	"testing"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
)

// Every bucket admits 1e9 per second with a burst of 1e9: the benchmark
// measures the admission path.
const (
	benchRate  = limit.Rate(1e9)
	benchBurst = 1_000_000_000
)

func BenchmarkMultiTier(b *testing.B) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, benchRate, benchBurst),
		httplimit.WithTier(httplimit.Route, benchRate, benchBurst),
		httplimit.WithTier(httplimit.Resource, benchRate, benchBurst),
		httplimit.WithRoute("GET /api/v1/users/{id}", benchRate, benchBurst),
	)
	for _, tc := range []struct {
		name string
		req  httplimit.Request
	}{
		{"pattern", httplimit.Request{Method: "GET", Path: "/api/v1/users/42", ResourceID: "42"}},
		{"normalized", httplimit.Request{Method: "GET", Path: "/api/v1/orders/42", ResourceID: "42"}},
		{"global only", httplimit.Request{Method: "GET", Path: "/api/v1/users/42"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.Allow(tc.req)
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					m.Allow(tc.req)
				}
			})
		})
	}
}
