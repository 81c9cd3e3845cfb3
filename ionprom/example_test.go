package ionprom_test

import (
	"context"
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/ionkit/ion/ionprom"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// A rate limiter records into a registry of its own; a scrape of the
// registry (here printed in the text format) shows what it did. Serve the
// same registry with promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).
func ExampleNew() {
	reg := prometheus.NewRegistry()
	m := ionprom.New(reg)
	if err := m.Err(); err != nil {
		fmt.Println(err)
		return
	}
	lim := limit.NewTokenBucket(limit.PerHour(1), 2, limit.WithName("api"), limit.WithMetrics(m))
	p := limit.Policy[string](lim)
	for range 3 {
		_, _ = policy.Run(context.Background(), p, func(context.Context) (string, error) { return "ok", nil })
	}

	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "ion_limit_requests_total" {
			_, _ = expfmt.MetricFamilyToText(os.Stdout, mf)
		}
	}
	// Output:
	// # HELP ion_limit_requests_total Requests to the rate limiter, by result (allowed, limited).
	// # TYPE ion_limit_requests_total counter
	// ion_limit_requests_total{name="api",result="allowed"} 2
	// ion_limit_requests_total{name="api",result="limited"} 1
}

// A nil registerer gives a sink that every Ion option refuses: the
// primitive fails closed, and says why.
func ExampleNew_nilRegisterer() {
	m := ionprom.New(nil)
	fmt.Println(m.Err())
	lim := limit.NewTokenBucket(10, 10, limit.WithMetrics(m))
	fmt.Println(lim.Err())
	// Output:
	// ionprom: invalid configuration: registerer: nil prometheus.Registerer
	// limit: invalid configuration: WithMetrics: ionprom: invalid configuration: registerer: nil prometheus.Registerer
}
