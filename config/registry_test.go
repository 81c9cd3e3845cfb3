package config_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// doc decodes a JSON document, failing the test if it does not decode or
// validate.
func doc(t testing.TB, s string) config.Document {
	t.Helper()
	var d config.Document
	require.NoError(t, json.Unmarshal([]byte(s), &d), "the test's document decodes")
	require.NoError(t, d.Validate(), "the test's document is valid")
	return d
}

// newRegistry returns a registry for s, closed when the test ends.
func newRegistry(t testing.TB, s string) *config.Registry {
	t.Helper()
	r, err := config.New(doc(t, s))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, r.Close(context.Background())) })
	return r
}

var (
	errDown = errors.New("down")
	fail    = func(context.Context) (string, error) { return "", errDown }
	succeed = func(context.Context) (string, error) { return "ok", nil }
)

func TestNew_invalid(t *testing.T) {
	var d config.Document
	require.NoError(t, json.Unmarshal([]byte(`{"pools": {"w": {"size": 0}}, "pipelines": {"p": {"breaker": "nope"}}}`), &d))
	r, err := config.New(d)
	assert.Nil(t, r, "no registry is half-built")
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, []string{"pools.w.size", "pipelines.p.breaker"}, params(t, err))
}

const reloadBase = `{
	"breakers": {"db": {"consecutive_failures": 2, "open_duration": "1m"}},
	"limiters": {"api": {"rate": "1/s", "burst": 4}},
	"pools": {"workers": {"size": 1, "queue_size": 4}},
	"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`

func TestApply_keepsState(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, reloadBase)
		p := config.Pipeline[string](r, "p")
		for range 2 {
			_, err := p.Run(context.Background(), fail)
			require.ErrorIs(t, err, errDown)
		}
		require.Equal(t, "open", r.Snapshot().Breakers["db"].State)

		// A new limiter rate and burst, the breaker unchanged.
		require.NoError(t, r.Apply(doc(t, `{
			"breakers": {"db": {"consecutive_failures": 2, "open_duration": "1m"}},
			"limiters": {"api": {"rate": "2/s", "burst": 10}},
			"pools": {"workers": {"size": 1, "queue_size": 4}},
			"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`)))

		s := r.Snapshot()
		assert.Equal(t, uint64(2), s.Generation)
		assert.Equal(t, "open", s.Breakers["db"].State, "an unchanged breaker keeps its state")
		assert.Equal(t, int64(2), s.Breakers["db"].TotalFailures, "and its counts")
		_, err := p.Run(context.Background(), succeed)
		assert.ErrorIs(t, err, breaker.ErrOpen, "the pipeline still sees the open breaker")

		api := s.Limiters["api"]
		assert.Equal(t, "2/s", api.Rate, "the rate changed in place")
		assert.Equal(t, 10, api.Burst, "the burst changed in place")
		assert.Equal(t, []float64{2}, api.Tokens, "the tokens were kept: two calls took two of the four, none were added by the reload")
	})
}

func TestApply_changesInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, reloadBase)
		p := config.Pipeline[string](r, "p")
		// Drain the bucket: 4 tokens.
		for range 4 {
			_, err := p.Run(context.Background(), succeed)
			require.NoError(t, err)
		}
		_, err := p.Run(context.Background(), succeed)
		require.ErrorIs(t, err, limit.ErrLimited)

		pooled := config.Pipeline[string](r, "pooled")
		_, err = pooled.Run(context.Background(), succeed)
		require.NoError(t, err)

		require.NoError(t, r.Apply(doc(t, `{
			"breakers": {"db": {"consecutive_failures": 2, "open_duration": "1m"}},
			"limiters": {"api": {"rate": "1/s", "burst": 2}},
			"pools": {"workers": {"size": 3, "queue_size": 4}},
			"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`)))
		_, err = p.Run(context.Background(), succeed)
		assert.ErrorIs(t, err, limit.ErrLimited, "the emptied bucket stayed empty across the reload")

		ws := r.Snapshot().Pools["workers"]
		assert.Equal(t, 3, ws.Size, "the pool was resized in place")
		assert.Equal(t, uint64(1), ws.Completed, "and kept its counters")
	})
}

// A limiter of a new kind is a new limiter; a pool whose queue changes is
// the same pool.
func TestApply_replacesWhatCannotChangeInPlace(t *testing.T) {
	r := newRegistry(t, reloadBase)
	pooled := config.Pipeline[string](r, "pooled")
	_, err := pooled.Run(context.Background(), succeed)
	require.NoError(t, err)
	w := config.PoolOf(r, "workers")

	require.NoError(t, r.Apply(doc(t, `{
		"breakers": {"db": {"consecutive_failures": 2, "open_duration": "1m"}},
		"limiters": {"api": {"kind": "leaky-bucket", "rate": "1/s", "capacity": 4}},
		"pools": {"workers": {"size": 1, "queue_size": 8}},
		"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`)))
	s := r.Snapshot()
	assert.Equal(t, "leaky-bucket", s.Limiters["api"].Kind, "a limiter of a new kind is a new limiter")
	assert.Same(t, w, config.PoolOf(r, "workers"), "a pool with a new queue size is the same pool")
	assert.Equal(t, 8, s.Pools["workers"].QueueSize)
	assert.Equal(t, uint64(1), s.Pools["workers"].Completed, "and keeps its counters")
	_, err = pooled.Run(context.Background(), succeed)
	assert.NoError(t, err)
}

// A breaker whose parameters change is the same breaker: an open one stays
// open, its deadline follows the new open duration, its counts stay, and
// the new rules are in force from then on.
func TestApply_breakerChangesInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRegistry(t, reloadBase)
		p := config.Pipeline[string](r, "p")
		for range 2 {
			_, err := p.Run(context.Background(), fail)
			require.ErrorIs(t, err, errDown)
		}
		before := r.Snapshot().Breakers["db"]
		require.Equal(t, "open", before.State)
		assert.Equal(t, time.Minute, before.Until.Sub(before.Since), "the snapshot shows the deadline")
		time.Sleep(10 * time.Second)

		require.NoError(t, r.Apply(doc(t, `{
			"breakers": {"db": {"consecutive_failures": 3, "open_duration": "20s", "half_open_max_calls": 1}},
			"limiters": {"api": {"rate": "1/s", "burst": 4}},
			"pools": {"workers": {"size": 1, "queue_size": 4}},
			"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`)))
		after := r.Snapshot().Breakers["db"]
		assert.Equal(t, "open", after.State, "the open breaker stayed open")
		assert.Equal(t, before.Since, after.Since, "the same opening")
		assert.Equal(t, 20*time.Second, after.Until.Sub(after.Since), "its deadline follows the new open duration")
		assert.Equal(t, int64(2), after.TotalFailures, "its counts stayed")
		_, err := p.Run(context.Background(), succeed)
		d, _ := ion.RetryAfter(err)
		assert.Equal(t, 10*time.Second, d, "the pipeline sees the new deadline")

		time.Sleep(10 * time.Second)
		_, err = p.Run(context.Background(), succeed)
		require.NoError(t, err)
		assert.Equal(t, "closed", r.Snapshot().Breakers["db"].State, "one probe closes it now")
		for range 2 {
			_, err := p.Run(context.Background(), fail)
			require.ErrorIs(t, err, errDown)
		}
		assert.Equal(t, "closed", r.Snapshot().Breakers["db"].State, "3 consecutive failures trip it now")
		_, err = p.Run(context.Background(), fail)
		require.ErrorIs(t, err, errDown)
		assert.Equal(t, "open", r.Snapshot().Breakers["db"].State)
	})
}

// An adaptive limiter whose parameters change keeps the limit it learned,
// clamped into the new bounds; initial_limit applies only when it is built.
func TestApply_adaptiveChangesInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := func(s string) string {
			return `{"adaptive": {"db": {` + s + `}}, "pipelines": {"p": {"adaptive": "db"}}}`
		}
		r := newRegistry(t, d(`"algorithm": "aimd", "initial_limit": 2, "sample_window": {"length": "1ns", "min_samples": 1}`))
		p := config.Pipeline[string](r, "p")
		_, err := p.Run(context.Background(), func(context.Context) (string, error) {
			time.Sleep(time.Millisecond)
			return "ok", nil
		})
		require.NoError(t, err)
		learned := r.Snapshot().Adaptive["db"]
		require.Equal(t, 3, learned.Limit, "AIMD added one")

		require.NoError(t, r.Apply(doc(t, d(`"algorithm": "gradient", "initial_limit": 50, "max_wait": "1s", "sample_window": {"length": "1ns", "min_samples": 1}`))))
		s := r.Snapshot().Adaptive["db"]
		assert.Equal(t, 3, s.Limit, "the learned limit stayed; the new initial limit does not apply")
		assert.Equal(t, learned.NoLoadRTT, s.NoLoadRTT, "and the RTT estimate")
		assert.Equal(t, "adaptive(db)", r.Snapshot().Pipelines["p"][0])
		assert.Equal(t, "adaptive limiter(db, gradient) → fn", p.String(), "the new algorithm is in force")

		require.NoError(t, r.Apply(doc(t, d(`"min_limit": 10, "max_limit": 20`))))
		assert.Equal(t, 10, r.Snapshot().Adaptive["db"].Limit, "clamped into the new bounds")
	})
}

// A throttler whose parameters change keeps its window: a new K applies to
// the counts at once.
func TestApply_throttlerChangesInPlace(t *testing.T) {
	d := func(k string) string {
		return `{"throttlers": {"api": {"k": ` + k + `, "seed": 1}}, "pipelines": {"p": {"throttler": "api"}}}`
	}
	r := newRegistry(t, d("2"))
	p := config.Pipeline[string](r, "p")
	for i := range 100 {
		if i < 25 {
			_, err := p.Run(context.Background(), succeed)
			require.NoError(t, err)
		} else {
			_, _ = p.Run(context.Background(), fail)
		}
	}
	assert.InDelta(t, (100-2*25)/101.0, r.Snapshot().Throttlers["api"].RejectionRate, 1e-9)
	require.NoError(t, r.Apply(doc(t, d("1.1"))))
	assert.InDelta(t, (100-1.1*25)/101.0, r.Snapshot().Throttlers["api"].RejectionRate, 1e-9,
		"the counts stayed, under the new K")
	assert.Equal(t, "throttler(api)", r.Snapshot().Pipelines["p"][0])
}

// A budget whose limits change keeps what it counted: the retry it granted
// this second still counts against the new floor.
func TestApply_budgetChangesInPlace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		d := func(floor int) string {
			return fmt.Sprintf(`{"budgets": {"b": {"min_per_second": %d}},
				"pipelines": {"p": {"retry": {"attempts": 5, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"}}}}`, floor)
		}
		r := newRegistry(t, d(1))
		p := config.Pipeline[string](r, "p")
		attempts := 0
		down := func(context.Context) (string, error) { attempts++; return "", errDown }
		_, err := p.Run(context.Background(), down)
		require.ErrorIs(t, err, policy.ErrRetryBudget)
		require.Equal(t, 2, attempts, "one retry from the floor of 1")

		require.NoError(t, r.Apply(doc(t, d(2))))
		attempts = 0
		_, err = p.Run(context.Background(), down)
		assert.ErrorIs(t, err, policy.ErrRetryBudget)
		assert.Equal(t, 2, attempts, "one more retry this second: a new budget would have allowed two")

		time.Sleep(time.Second)
		attempts = 0
		_, _ = p.Run(context.Background(), down)
		assert.Equal(t, 3, attempts, "the next second has the floor of 2")
	})
}

// A document that changes every kind of primitive validly but cannot be
// applied (it breaks a pipeline in use) changes none of them.
func TestApply_refusedChangesNoPrimitive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		base := `{
			"breakers": {"db": {"consecutive_failures": 1, "open_duration": "1m"}},
			"adaptive": {"a": {"initial_limit": 30}},
			"throttlers": {"t": {"seed": 1}},
			"budgets": {"b": {"min_per_second": 1}},
			"bulkheads": {"h": {"capacity": 2}},
			"pools": {"w": {"size": 1, "queue_size": 2}},
			"pipelines": {"p": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"},
				"breaker": "db", "throttler": "t", "adaptive": "a"},
				"r": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"}},
				"s": {"bulkhead": {"use": "h"}, "pool": "w"}, "q": {}}}`
		r := newRegistry(t, base)
		p := config.Pipeline[string](r, "p")
		retries := config.Pipeline[string](r, "r")
		q := config.Pipeline[string](r, "q")
		require.NoError(t, q.Err())
		_, err := p.Run(context.Background(), fail) // opens the breaker; its retry takes the second's floor
		require.ErrorIs(t, err, breaker.ErrOpen)
		time.Sleep(time.Second / 2)
		before := r.Snapshot()
		bulkhead := sem.Policy[int](config.BulkheadOf(r, "h")).(fmt.Stringer)
		bulkheadBefore := bulkhead.String()

		err = r.Apply(doc(t, `{
			"breakers": {"db": {"consecutive_failures": 5, "open_duration": "1s"}},
			"adaptive": {"a": {"max_limit": 10}},
			"throttlers": {"t": {"k": 1.5}},
			"budgets": {"b": {"ratio": 1, "min_per_second": 5}},
			"bulkheads": {"h": {"capacity": 3, "fairness": "lifo", "adaptive_lifo": 2}},
			"pools": {"w": {"size": 2, "queue_size": 4, "queue_order": "lifo"}},
			"pipelines": {"p": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"},
				"breaker": "db", "throttler": "t", "adaptive": "a"},
				"r": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"}},
				"s": {"bulkhead": {"use": "h"}, "pool": "w"}}}`))
		assert.Equal(t, []string{"pipelines.q"}, params(t, err), "q is in use")
		assert.Equal(t, before, r.Snapshot(), "the breaker's deadline, the limit, the rates, the capacity, the pool's sizes: nothing changed")
		assert.Equal(t, bulkheadBefore, bulkhead.String(), "nor the bulkhead's settings")

		attempts := 0
		_, err = retries.Run(context.Background(), func(context.Context) (string, error) { attempts++; return "", errDown })
		assert.ErrorIs(t, err, policy.ErrRetryBudget)
		assert.Equal(t, 1, attempts, "the old floor of 1 was taken this second")

		time.Sleep(time.Minute - time.Second/2 - time.Nanosecond)
		_, err = p.Run(context.Background(), succeed)
		assert.ErrorIs(t, err, breaker.ErrOpen, "the old open duration is in force")
		time.Sleep(time.Nanosecond)
		assert.Equal(t, "half-open", r.Snapshot().Breakers["db"].State)
	})
}

// Every change of a breaker, an adaptive limiter, a throttler, a budget, a
// bulkhead or a pool that validation accepts, the primitive accepts in
// place: Apply never fails half-way through its commit.
func TestApply_everyValidChangeInPlace(t *testing.T) {
	for kind, confs := range map[string][]string{
		"breakers": {`{}`, `{"preset": "aggressive"}`, `{"consecutive_failures": 3, "open_duration": "1s", "open_backoff": {"factor": 2, "limit": "1m"}}`,
			`{"failure_rate": 0.5, "count_window": {"size": 10, "min_calls": 5}, "slow_calls": {"threshold": "1s", "rate": 0.5}}`,
			`{"time_window": {"length": "10s", "buckets": 5, "min_calls": 1}, "jitter": {"fraction": 0.5, "seed": 3}}`,
			`{"failures_within": {"failures": 3, "within": "1s"}, "half_open_max_calls": 5, "success_threshold": 5}`,
			`{"preset": "conservative", "half_open_max_calls": 1}`},
		"adaptive": {`{}`, `{"algorithm": "aimd", "min_limit": 5, "max_limit": 5, "initial_limit": 5}`,
			`{"algorithm": "gradient", "smoothing": 1, "tolerance": 2, "backoff": 0.5, "sample_window": {"length": "1ms", "min_samples": 1}}`,
			`{"max_wait": "1s", "max_queue": 3, "codel": {"target": "5ms", "interval": "100ms"}, "adaptive_lifo": 2, "min_limit": 100}`},
		"throttlers": {`{}`, `{"k": 1}`, `{"k": 10, "window": "20ns", "seed": 5}`, `{"window": "1h", "seed": 6}`},
		"budgets":    {`{}`, `{"ratio": 0.1}`, `{"ratio": 1000, "min_per_second": 10}`, `{"min_per_second": 1}`},
		"bulkheads": {`{"capacity": 1}`, `{"capacity": 4, "fairness": "lifo", "acquire_timeout": "1s"}`,
			`{"capacity": 2, "fairness": "none", "codel": {"target": "5ms", "interval": "100ms"}, "adaptive_lifo": 2}`},
		"pools": {`{"size": 1}`, `{"size": 4, "queue_size": 8, "idle_timeout": "0s", "queue_order": "lifo"}`,
			`{"size": 2, "max_queue_wait": "1s", "codel": {"target": "5ms", "interval": "100ms"}, "adaptive_lifo": 3, "idle_timeout": "1m"}`},
	} {
		for i, from := range confs {
			for j, to := range confs {
				d := func(c string) string {
					layer := map[string]string{"breakers": `"breaker": "x"`, "adaptive": `"adaptive": "x"`,
						"throttlers": `"throttler": "x"`, "budgets": `"retry": {"budget": "x"}`,
						"bulkheads": `"bulkhead": {"use": "x"}`, "pools": `"pool": "x"`}[kind]
					return fmt.Sprintf(`{%q: {"x": %s}, "pipelines": {"p": {%s}}}`, kind, c, layer)
				}
				r := newRegistry(t, d(from))
				p := config.Pipeline[string](r, "p")
				require.NoError(t, p.Err())
				assert.NoError(t, r.Apply(doc(t, d(to))), "%s: from %d to %d", kind, i, j)
				_, err := p.Run(context.Background(), succeed)
				assert.NoError(t, err, "%s: from %d to %d: a call after", kind, i, j)
			}
		}
	}
}

func TestApply_invalidChangesNothing(t *testing.T) {
	r := newRegistry(t, reloadBase)
	p := config.Pipeline[string](r, "p")
	before, beforeDoc, beforeString := r.Snapshot(), r.Document(), p.String()

	var bad config.Document
	require.NoError(t, json.Unmarshal([]byte(`{
		"breakers": {"db": {"consecutive_failures": -1}},
		"limiters": {"api": {"rate": "1/s", "burst": 8}},
		"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}, "timeout": {"after": "0s"}}}}`), &bad))
	err := r.Apply(bad)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, []string{"breakers.db.consecutive_failures", "pipelines.p.timeout.after"}, params(t, err), "every error, at once")

	assert.Equal(t, before, r.Snapshot(), "no primitive changed, not even the valid limiter burst")
	assert.Equal(t, beforeDoc, r.Document())
	assert.Equal(t, beforeString, p.String(), "the pipeline did not change")
}

func TestApply_refusesToBreakPipelinesInUse(t *testing.T) {
	r := newRegistry(t, `{"pipelines": {"p": {"fallback": {"use": "cached"}}, "q": {}}}`)
	p := config.Pipeline[string](r, "p", config.FallbackValue("cached", "x"))
	require.NoError(t, p.Err())
	q := config.Pipeline[int](r, "q")
	require.NoError(t, q.Err())

	err := r.Apply(doc(t, `{"pipelines": {"p": {"fallback": {"use": "stale"}}}}`))
	assert.Equal(t, []string{"pipelines.p.fallback.use", "pipelines.q"}, params(t, err),
		"a fallback not bound for the pipeline's type, and a pipeline removed while in use")
	assert.Equal(t, uint64(1), r.Snapshot().Generation, "nothing was applied")
	assert.Equal(t, "fallback(cached) → fn", p.String())
}

// A call in flight finishes under the configuration it started with.
func TestApply_callInFlightKeepsItsConfiguration(t *testing.T) {
	r := newRegistry(t, `{"pipelines": {"p": {"retry": {"attempts": 1}}}}`)
	p := config.Pipeline[string](r, "p")

	started, release := make(chan struct{}), make(chan struct{})
	var attempts atomic.Int32
	done := make(chan error)
	// The call's goroutine; joined by receiving from done.
	go func() {
		_, err := p.Run(context.Background(), func(context.Context) (string, error) {
			if attempts.Add(1) == 1 {
				close(started)
				<-release
			}
			return "", errDown
		})
		done <- err
	}()
	<-started
	require.NoError(t, r.Apply(doc(t, `{"pipelines": {"p": {"retry": {"attempts": 5, "backoff": {"kind": "constant", "initial": "0s"}}}}}`)))
	close(release)
	err := <-done
	assert.ErrorIs(t, err, errDown)
	assert.Equal(t, int32(1), attempts.Load(), "the call that started under attempts=1 was not retried")

	attempts.Store(1) // the next call's first attempt fails at once
	_, err = p.Run(context.Background(), fail)
	assert.ErrorIs(t, err, policy.ErrRetriesExhausted, "a call started after Apply runs under attempts=5")
}

func TestApply_afterClose(t *testing.T) {
	r, err := config.New(config.Document{})
	require.NoError(t, err)
	require.NoError(t, r.Close(context.Background()))
	assert.ErrorIs(t, r.Apply(config.Document{}), config.ErrClosed)
}

// TestApply_stress reloads documents while calls run through two pipelines
// sharing a breaker, a limiter, a bulkhead, an adaptive limiter, a
// throttler and a retry budget (run with -race). The documents change every
// primitive's parameters (the breaker's rule and window too), and every
// document admits every call, so every call must succeed: a half-applied
// document, a lost permit or a call that sees two configurations would fail
// one. The breaker, reconfigured in place a hundred times, must have counted
// every outcome exactly once.
func TestApply_stress(t *testing.T) {
	docs := []config.Document{
		doc(t, `{
			"breakers": {"db": {"consecutive_failures": 1000000}},
			"limiters": {"api": {"rate": "inf", "burst": 10}},
			"bulkheads": {"h": {"capacity": 64}},
			"pools": {"w": {"size": 4, "queue_size": 64}},
			"adaptive": {"al": {"algorithm": "aimd", "min_limit": 16, "max_limit": 100, "sample_window": {"length": "1ms", "min_samples": 5}}},
			"throttlers": {"th": {"k": 1000}},
			"budgets": {"b": {"ratio": 1, "min_per_second": 100000}},
			"pipelines": {
				"a": {"retry": {"attempts": 2, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"}, "breaker": "db", "limiter": {"use": "api"}, "bulkhead": {"use": "h", "max_wait": "1m"}, "adaptive": "al"},
				"b": {"breaker": "db", "pool": "w", "limiter": {"use": "api"}, "throttler": "th", "adaptive": "al"}}}`),
		doc(t, `{
			"breakers": {"db": {"failure_rate": 1, "count_window": {"size": 100, "min_calls": 100}, "slow_calls": {"threshold": "1h", "rate": 1}, "open_duration": "1m"}},
			"limiters": {"api": {"rate": "inf", "burst": 20}},
			"bulkheads": {"h": {"capacity": 64, "fairness": "none"}},
			"pools": {"w": {"size": 8, "queue_size": 64}},
			"adaptive": {"al": {"algorithm": "gradient", "min_limit": 20, "max_limit": 200, "max_wait": "1s", "codel": {"target": "1s", "interval": "1s"}}},
			"throttlers": {"th": {"k": 2000, "window": "1m", "seed": 3}},
			"budgets": {"b": {"ratio": 2, "min_per_second": 200000}},
			"pipelines": {
				"a": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}, "budget": "b"}, "breaker": "db", "limiter": {"use": "api", "max_wait": "1s"}, "bulkhead": {"use": "h", "max_wait": "1m"}, "adaptive": "al"},
				"b": {"breaker": "db", "pool": "w", "limiter": {"use": "api"}, "throttler": "th", "adaptive": "al", "order": ["pool", "breaker", "throttler", "adaptive", "limiter"]}}}`),
	}
	r, err := config.New(docs[0])
	require.NoError(t, err)
	a := config.Pipeline[int](r, "a")
	b := config.Pipeline[string](r, "b")
	// The throttler rejects nothing once it has seen accepts: K × accepts
	// stays above every request the test makes.
	const warmup = 10
	for range warmup {
		_, err := b.Run(context.Background(), succeed)
		require.NoError(t, err)
	}

	const workers, calls, reloads = 8, 300, 100
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		// Each caller's goroutine; joined by wg.Wait.
		wg.Go(func() {
			for i := range calls {
				if w%2 == 0 {
					first := true
					_, err := a.Run(context.Background(), func(context.Context) (int, error) {
						if first { // every call's first attempt fails: both documents retry it
							first = false
							return 0, errDown
						}
						return i, nil
					})
					if err != nil {
						failures.Add(1)
						t.Errorf("a: %v", err)
					}
				} else if _, err := b.Run(context.Background(), succeed); err != nil {
					failures.Add(1)
					t.Errorf("b: %v", err)
				}
			}
		})
	}
	stop := make(chan struct{})
	var reader sync.WaitGroup
	// A debug page read while everything else runs; joined by reader.Wait.
	reader.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := json.Marshal(r.Snapshot()); err != nil {
				t.Errorf("Snapshot does not encode: %v", err)
			}
		}
	})
	for i := range reloads {
		require.NoError(t, r.Apply(docs[(i+1)%2]))
	}
	wg.Wait()
	close(stop)
	reader.Wait()
	assert.Zero(t, failures.Load(), "every call succeeded")
	s := r.Snapshot()
	assert.Equal(t, uint64(reloads+1), s.Generation)
	assert.Equal(t, int64(0), s.Bulkheads["h"].InUse, "every permit was released")
	assert.Zero(t, s.Adaptive["al"].InFlight, "every adaptive permit was released")
	assert.Zero(t, s.Throttlers["th"].RejectionRate)
	db := s.Breakers["db"]
	assert.Equal(t, "closed", db.State)
	assert.Equal(t, int64(workers/2*calls), db.TotalFailures, "one failure per call of a, counted once by the one breaker")
	assert.Equal(t, int64(workers*calls+warmup), db.TotalSuccesses, "one success per call")
	require.NoError(t, r.Close(context.Background()))
}

// The registry keeps its own copy of a document: changing the caller's maps
// after Apply, or the maps Document returns, changes nothing.
func TestApply_copiesTheDocument(t *testing.T) {
	d := doc(t, `{"limiters": {"api": {"rate": "10/s", "burst": 5}}, "pipelines": {"p": {"limiter": {"use": "api"}}}}`)
	r, err := config.New(d)
	require.NoError(t, err)
	defer r.Close(context.Background())
	want := r.Document()

	d.Limiters["api"] = config.LimiterConfig{Kind: "sliding"}
	delete(d.Pipelines, "p")
	got := r.Document()
	got.Pipelines["q"] = config.PipelineConfig{}
	*got.Limiters["api"].Rate = 1

	assert.Equal(t, want, r.Document(), "the registry's document did not change")
	assert.NoError(t, r.Apply(r.Document()), "and re-applies")
}

// The zero Registry is an empty one: nothing panics, and Apply fills it.
func TestRegistry_zero(t *testing.T) {
	var r config.Registry
	assert.Equal(t, config.Document{}, r.Document())
	assert.Equal(t, config.Snapshot{}, r.Snapshot())
	assert.ErrorIs(t, config.Pipeline[string](&r, "p").Err(), ion.ErrInvalidConfig, "no pipeline yet")

	require.NoError(t, r.Apply(doc(t, `{"pools": {"w": {"size": 1}}, "pipelines": {"p": {"pool": "w"}}}`)))
	p := config.Pipeline[string](&r, "p")
	v, err := p.Run(context.Background(), succeed)
	require.NoError(t, err)
	assert.Equal(t, "ok", v)
	assert.Equal(t, uint64(1), r.Snapshot().Generation)
	require.NoError(t, r.Close(context.Background()))
}

// Every change of a bucket that validation accepts, the bucket accepts in
// place: Apply never fails half-way through its commit.
func TestApply_bucketChangesInPlace(t *testing.T) {
	limits := []string{`"rate": "0/s", "burst": 0`, `"rate": "inf", "burst": 0`, `"rate": "1/s", "burst": 1`,
		`"rate": "1000000/s", "burst": 1125899906842624`, `"rate": "1/h", "burst": 3`}
	for _, kind := range []string{"token-bucket", "leaky-bucket"} {
		for _, from := range limits {
			for _, to := range limits {
				size := func(s string) string {
					if kind == "leaky-bucket" {
						return strings.Replace(s, "burst", "capacity", 1)
					}
					return s
				}
				d := func(l string) string {
					return fmt.Sprintf(`{"limiters": {"l": {"kind": %q, %s}}, "pipelines": {"p": {"limiter": {"use": "l"}}}}`, kind, size(l))
				}
				r := newRegistry(t, d(from))
				assert.NoError(t, r.Apply(doc(t, d(to))), "%s: from {%s} to {%s}", kind, from, to)
			}
		}
	}
}

// A bulkhead whose capacity changes is the same semaphore: the permits of
// calls in flight stay counted, a shrink revokes none of them, and the new
// capacity admits calls once the permits in use fall below it. So does a
// change of its queue management.
func TestApply_bulkheadCapacityInPlace(t *testing.T) {
	d := func(capacity int, extra string) string {
		return fmt.Sprintf(`{"bulkheads": {"h": {"capacity": %d%s}},
			"pipelines": {"p": {"bulkhead": {"use": "h"}}}}`, capacity, extra)
	}
	r := newRegistry(t, d(3, ""))
	p := config.Pipeline[string](r, "p")
	hold, held := make(chan struct{}), make(chan struct{}, 3)
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			_, err := p.Run(context.Background(), func(context.Context) (string, error) {
				held <- struct{}{}
				<-hold
				return "", nil
			})
			assert.NoError(t, err)
		})
	}
	for range 3 {
		<-held
	}
	require.NoError(t, r.Apply(doc(t, d(2, ""))))
	s := r.Snapshot().Bulkheads["h"]
	assert.Equal(t, config.BulkheadStatus{Capacity: 2, InUse: 3, Available: 0}, s, "the calls in flight keep their permits")
	_, err := p.Run(context.Background(), succeed)
	assert.ErrorIs(t, err, sem.ErrFull, "three in use, two allowed")
	close(hold)
	wg.Wait()
	assert.Equal(t, config.BulkheadStatus{Capacity: 2, Available: 2}, r.Snapshot().Bulkheads["h"])
	_, err = p.Run(context.Background(), succeed)
	assert.NoError(t, err)

	// A change of queue management keeps the semaphore and the permit
	// held.
	h := config.BulkheadOf(r, "h")
	hold = make(chan struct{})
	wg.Go(func() {
		_, _ = p.Run(context.Background(), func(context.Context) (string, error) {
			held <- struct{}{}
			<-hold
			return "", nil
		})
	})
	<-held
	require.Equal(t, int64(1), r.Snapshot().Bulkheads["h"].InUse)
	require.NoError(t, r.Apply(doc(t, d(2, `, "codel": {"target": "5ms", "interval": "100ms"}, "adaptive_lifo": 4`))))
	assert.Same(t, h, config.BulkheadOf(r, "h"), "the same semaphore")
	assert.Equal(t, int64(1), r.Snapshot().Bulkheads["h"].InUse, "with its permit in use")
	close(hold)
	wg.Wait()

	var bad config.Document
	require.NoError(t, json.Unmarshal([]byte(d(2, `, "codel": {"target": "0s", "interval": "100ms"}, "adaptive_lifo": -1`)), &bad))
	err = r.Apply(bad)
	require.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, []string{"bulkheads.h.codel.target", "bulkheads.h.adaptive_lifo"}, params(t, err))
}

// A pool's queue management is configured like a bulkhead's, and its
// status counts the tasks CoDel shed.
func TestPoolQueueManagementFields(t *testing.T) {
	r := newRegistry(t, `{"pools": {"w": {"size": 1, "queue_size": 4, "codel": {"target": "5ms", "interval": "100ms"}, "adaptive_lifo": 2}},
		"pipelines": {"p": {"pool": "w"}}}`)
	p := config.Pipeline[string](r, "p")
	_, err := p.Run(context.Background(), succeed)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), r.Snapshot().Pools["w"].Shed)
	var bad config.Document
	require.NoError(t, json.Unmarshal([]byte(`{"pools": {"w": {"size": 1, "codel": {"target": "5ms", "interval": "0s"}, "adaptive_lifo": -2}},
		"pipelines": {"p": {"pool": "w"}}}`), &bad))
	err = r.Apply(bad)
	require.ErrorIs(t, err, ion.ErrInvalidConfig)
	assert.Equal(t, []string{"pools.w.codel.interval", "pools.w.adaptive_lifo"}, params(t, err))
}
