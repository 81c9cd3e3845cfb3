package chaos_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/chaos"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var errInjected = errors.New("injected")

// pattern returns which of n sequential calls through in were injected.
func pattern(t *testing.T, in *chaos.Injector[string], n int) []bool {
	t.Helper()
	out := make([]bool, n)
	for i := range out {
		_, err := policy.Run(t.Context(), in, fetch)
		out[i] = errors.Is(err, errInjected)
	}
	return out
}

func TestSeedFixesWhichCallsAreInjected(t *testing.T) {
	a := pattern(t, chaos.Fault[string](errInjected, 0.3, chaos.WithSeed(42)), 1000)
	b := pattern(t, chaos.Fault[string](errInjected, 0.3, chaos.WithSeed(42)), 1000)
	c := pattern(t, chaos.Fault[string](errInjected, 0.3, chaos.WithSeed(43)), 1000)
	assert.Equal(t, a, b, "the same seed injects into the same calls")
	assert.NotEqual(t, a, c, "another seed injects into other calls")
}

func TestRateIsTheShareOfInjectedCalls(t *testing.T) {
	for _, rate := range []float64{0, 0.01, 0.3, 0.5, 0.99, 1} {
		got := 0
		for _, hit := range pattern(t, chaos.Fault[string](errInjected, rate, chaos.WithSeed(1)), 20_000) {
			if hit {
				got++
			}
		}
		share := float64(got) / 20_000
		assert.InDelta(t, rate, share, 0.015, "rate %v injected %v of the calls", rate, share)
		if rate == 0 {
			assert.Zero(t, got, "rate 0 never injects")
		}
		if rate == 1 {
			assert.Equal(t, 20_000, got, "rate 1 always injects")
		}
	}
}

func TestForceSuppressAndTheSwitch(t *testing.T) {
	never := chaos.Fault[string](errInjected, 0)
	always := chaos.Fault[string](errInjected, 1)
	cases := []struct {
		name string
		in   *chaos.Injector[string]
		ctx  func(context.Context) context.Context
		on   bool
		want bool // injected
	}{
		{"rate 0", never, func(c context.Context) context.Context { return c }, true, false},
		{"rate 0 forced", never, chaos.Force, true, true},
		{"rate 1", always, func(c context.Context) context.Context { return c }, true, true},
		{"rate 1 suppressed", always, chaos.Suppress, true, false},
		{"disabled", always, func(c context.Context) context.Context { return c }, false, false},
		{"disabled wins over force", never, chaos.Force, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.SetEnabled(tc.on)
			assert.Equal(t, tc.on, tc.in.Enabled())
			_, err := policy.Run(tc.ctx(t.Context()), tc.in, fetch)
			assert.Equal(t, tc.want, errors.Is(err, errInjected), "injected")
		})
	}
}

func TestLatencyWaitsThenRunsAndHonoursCtx(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		in := chaos.Latency[string](time.Second, 1)
		start := time.Now()
		v, err := policy.Run(t.Context(), in, fetch)
		require.NoError(t, err)
		assert.Equal(t, "real", v)
		assert.Equal(t, time.Second, time.Since(start), "the call waited the injected latency")

		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		ran := false
		start = time.Now()
		_, err = policy.Run(ctx, in, func(context.Context) (string, error) { ran = true; return "", nil })
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 100*time.Millisecond, time.Since(start), "the wait ended with the ctx")
		assert.False(t, ran, "a call whose ctx ended during the wait does not run")
	})
}

func TestOutcomeAndBehavior(t *testing.T) {
	v, err := policy.Run(t.Context(), chaos.Outcome("made-up", errInjected, 1), fetch)
	assert.Equal(t, "made-up", v)
	assert.ErrorIs(t, err, errInjected)

	ran := 0
	ok := chaos.Behavior[string](func(context.Context) error { ran++; return nil }, 1)
	v, err = policy.Run(t.Context(), ok, fetch)
	assert.Equal(t, "real", v, "a behaviour that returns nil lets the call run")
	require.NoError(t, err)

	failing := chaos.Behavior[string](func(context.Context) error { ran++; return errInjected }, 1)
	_, err = policy.Run(t.Context(), failing, fetch)
	assert.ErrorIs(t, err, errInjected)
	assert.Equal(t, 2, ran)
}

func TestNoAllocations(t *testing.T) {
	ctx := t.Context()
	for name, in := range map[string]*chaos.Injector[string]{
		"disabled":     chaos.Fault[string](errInjected, 1, chaos.WithEnabled(false)),
		"not chosen":   chaos.Fault[string](errInjected, 0),
		"fault":        chaos.Fault[string](errInjected, 1),
		"outcome":      chaos.Outcome("x", nil, 1),
		"zero latency": chaos.Latency[string](0, 0.5),
	} {
		allocs := testing.AllocsPerRun(1000, func() { _, _ = policy.Run(ctx, in, fetch) })
		assert.Zero(t, allocs, "%s: no allocation", name)
	}
}

func TestBadConfigurationFailsClosed(t *testing.T) {
	cases := []struct {
		name  string
		in    *chaos.Injector[string]
		param string
	}{
		{"zero value", &chaos.Injector[string]{}, "Injector"},
		{"nil error", chaos.Fault[string](nil, 0.5), "err"},
		{"NaN rate", chaos.Fault[string](errInjected, math.NaN()), "rate"},
		{"negative rate", chaos.Outcome("x", nil, -0.1), "rate"},
		{"rate above 1", chaos.Latency[string](0, 1.5), "rate"},
		{"negative latency", chaos.Latency[string](-time.Second, 0.5), "d"},
		{"nil behavior", chaos.Behavior[string](nil, 0.5), "fn"},
		{"nil option", chaos.Fault[string](errInjected, 0.5, nil), "option 0"},
		{"nil metrics", chaos.Fault[string](errInjected, 0.5, chaos.WithMetrics(nil)), "WithMetrics"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ran := false
			_, err := policy.Run(chaos.Suppress(t.Context()), tc.in, func(context.Context) (string, error) { ran = true; return "", nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.ErrorContains(t, err, tc.param, "the error names the parameter")
			assert.False(t, ran, "a misconfigured injector never runs the call")
			assert.Contains(t, tc.in.String(), "invalid")
		})
	}
}

func TestStressCountsEveryInjection(t *testing.T) {
	rec := observe.NewRecorder()
	in := chaos.Fault[string](errInjected, 0.25, chaos.WithName("f"), chaos.WithMetrics(rec))
	var injected atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				if i%500 == 0 {
					in.SetEnabled(i%1000 == 0)
				}
				if _, err := policy.Run(context.Background(), in, fetch); errors.Is(err, errInjected) {
					injected.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	assert.Positive(t, injected.Load())
	assert.Equal(t, injected.Load(), rec.Count("ion_chaos_injections_total", observe.L("name", "f"), observe.L("kind", "fault")),
		"the metric counts every injection")
}

func FuzzRate(f *testing.F) {
	f.Add(0.5, uint64(1))
	f.Add(math.Inf(1), uint64(2))
	f.Fuzz(func(t *testing.T, rate float64, seed uint64) {
		in := chaos.Fault[string](errInjected, rate, chaos.WithSeed(seed))
		valid := !math.IsNaN(rate) && rate >= 0 && rate <= 1
		for range 20 {
			v, err := policy.Run(context.Background(), in, fetch)
			switch {
			case !valid && !errors.Is(err, ion.ErrInvalidConfig):
				t.Fatalf("rate %v accepted: %q, %v", rate, v, err)
			case valid && err != nil && !errors.Is(err, errInjected):
				t.Fatalf("rate %v: unexpected error %v", rate, err)
			case valid && err == nil && v != "real":
				t.Fatalf("rate %v: got %q", rate, v)
			}
		}
	})
}
