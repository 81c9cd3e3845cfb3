package config_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/policy"
)

func TestPipeline_failsClosed(t *testing.T) {
	r := newRegistry(t, `{"pipelines": {"p": {"fallback": {"use": "cached"}, "classifier": "http"}}}`)
	for _, tc := range []struct {
		name string
		live *config.Live[string]
		want []string
	}{
		{"no such pipeline", config.Pipeline[string](r, "nope"), []string{"pipelines.nope"}},
		{"unbound", config.Pipeline[string](r, "p"), []string{"pipelines.p.fallback.use", "pipelines.p.classifier"}},
		{"bound for another type", config.Pipeline[string](r, "p", config.FallbackValue("cached", "x")), []string{"pipelines.p.classifier"}},
		{"nil registry", config.Pipeline[string](nil, "p"), []string{"registry"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, params(t, tc.live.Err()), "Err() names the fields")
			_, err := tc.live.Run(context.Background(), succeed)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig, "every call fails closed")
		})
	}
}

func TestPipeline_bindings(t *testing.T) {
	r := newRegistry(t, `{"pipelines": {"p": {"fallback": {"use": "cached"}, "classifier": "empty-is-failure"}}}`)
	p := config.Pipeline[string](r, "p",
		config.FallbackValue("cached", "from cache"),
		config.Classifier("empty-is-failure", func(v string, err error) policy.Outcome {
			if err != nil || v == "" {
				return policy.Failure
			}
			return policy.Success
		}),
		config.FallbackValue("unused", "bindings the document does not use are ignored"))
	require.NoError(t, p.Err())

	v, err := p.Run(context.Background(), func(context.Context) (string, error) { return "", nil })
	require.NoError(t, err)
	assert.Equal(t, "from cache", v, "the bound classifier made an empty answer a failure, and the bound fallback replaced it")
}

// A breaker shared by two pipelines of two types trips for both.
func TestPipeline_sharedBreaker(t *testing.T) {
	r := newRegistry(t, `{
		"breakers": {"db": {"consecutive_failures": 2}},
		"pipelines": {"read": {"breaker": "db"}, "count": {"breaker": "db"}}}`)
	read := config.Pipeline[string](r, "read")
	count := config.Pipeline[int](r, "count")
	for range 2 {
		_, err := read.Run(context.Background(), fail)
		require.ErrorIs(t, err, errDown)
	}
	_, err := count.Run(context.Background(), func(context.Context) (int, error) { return 1, nil })
	assert.ErrorIs(t, err, breaker.ErrOpen, "the other pipeline's failures opened the shared breaker")
}

// A call through a Live pipeline adds no allocation to the pipeline it runs.
func TestLive_noAllocs(t *testing.T) {
	r := newRegistry(t, `{
		"breakers": {"db": {}},
		"limiters": {"api": {"rate": "inf", "burst": 1}},
		"bulkheads": {"h": {"capacity": 8}},
		"pipelines": {"p": {"retry": {}, "breaker": "db", "limiter": {"use": "api"}, "bulkhead": {"use": "h"}}}}`)
	p := config.Pipeline[int](r, "p")
	require.NoError(t, p.Err())
	ctx := context.Background()
	fn := func(context.Context) (int, error) { return 1, nil }
	allocs := testing.AllocsPerRun(1000, func() { _, _ = p.Run(ctx, fn) })
	assert.Zero(t, allocs, "Live.Run allocates nothing on the success path")
}
