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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/config"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
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

func TestApply_replacesWhatCannotChangeInPlace(t *testing.T) {
	r := newRegistry(t, reloadBase)
	p := config.Pipeline[string](r, "p")
	for range 2 {
		_, _ = p.Run(context.Background(), fail)
	}
	require.Equal(t, "open", r.Snapshot().Breakers["db"].State)
	pooled := config.Pipeline[string](r, "pooled")
	_, err := pooled.Run(context.Background(), succeed)
	require.NoError(t, err)

	require.NoError(t, r.Apply(doc(t, `{
		"breakers": {"db": {"consecutive_failures": 5, "open_duration": "1m"}},
		"limiters": {"api": {"kind": "leaky-bucket", "rate": "1/s", "capacity": 4}},
		"pools": {"workers": {"size": 1, "queue_size": 8}},
		"pipelines": {"p": {"breaker": "db", "limiter": {"use": "api"}}, "pooled": {"pool": "workers"}}}`)))
	s := r.Snapshot()
	assert.Equal(t, "closed", s.Breakers["db"].State, "a breaker with new thresholds is a new breaker: its state starts afresh")
	assert.Equal(t, "leaky-bucket", s.Limiters["api"].Kind, "a limiter of a new kind is a new limiter")
	assert.Equal(t, 8, s.Pools["workers"].QueueSize, "a pool with a new queue is a new pool")
	assert.Equal(t, uint64(0), s.Pools["workers"].Completed)
	_, err = p.Run(context.Background(), succeed)
	assert.NoError(t, err, "the pipeline uses the new breaker")
	_, err = pooled.Run(context.Background(), succeed)
	assert.NoError(t, err, "and the new pool")
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
// sharing a breaker, a limiter and a bulkhead (run with -race). Every
// document admits every call, so every call must succeed: a half-applied
// document, a lost permit or a call that sees two configurations would fail
// one.
func TestApply_stress(t *testing.T) {
	docs := []config.Document{
		doc(t, `{
			"breakers": {"db": {"consecutive_failures": 1000000}},
			"limiters": {"api": {"rate": "inf", "burst": 10}},
			"bulkheads": {"h": {"capacity": 64}},
			"pools": {"w": {"size": 4, "queue_size": 64}},
			"pipelines": {
				"a": {"retry": {"attempts": 2, "backoff": {"kind": "constant", "initial": "0s"}}, "breaker": "db", "limiter": {"use": "api"}, "bulkhead": {"use": "h", "max_wait": "1m"}},
				"b": {"breaker": "db", "pool": "w", "limiter": {"use": "api"}}}}`),
		doc(t, `{
			"breakers": {"db": {"consecutive_failures": 999999}},
			"limiters": {"api": {"rate": "inf", "burst": 20}},
			"bulkheads": {"h": {"capacity": 64, "fairness": "none"}},
			"pools": {"w": {"size": 8, "queue_size": 64}},
			"pipelines": {
				"a": {"retry": {"attempts": 3, "backoff": {"kind": "constant", "initial": "0s"}}, "breaker": "db", "limiter": {"use": "api", "max_wait": "1s"}, "bulkhead": {"use": "h", "max_wait": "1m"}},
				"b": {"breaker": "db", "pool": "w", "limiter": {"use": "api"}, "order": ["pool", "breaker", "limiter"]}}}`),
	}
	r, err := config.New(docs[0])
	require.NoError(t, err)
	a := config.Pipeline[int](r, "a")
	b := config.Pipeline[string](r, "b")

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
