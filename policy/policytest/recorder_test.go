package policytest_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/policy/policytest"
)

func TestRecorderCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := policytest.Record(policytest.Latency(5*time.Millisecond, "v"))
		start := time.Now()

		v, err := rec.Func(t.Context())
		require.NoError(t, err)
		assert.Equal(t, "v", v, "Func returns the wrapped result")

		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		_, err = rec.Func(ctx)
		require.NoError(t, err)

		assert.Equal(t, 2, rec.Count())
		assert.Equal(t, []int{1, 1}, rec.Attempts(), "a ctx no retry has marked is attempt 1")
		assert.Equal(t, []policytest.Call{
			{Attempt: 1, Start: start},
			{Attempt: 1, Start: start.Add(5 * time.Millisecond), Deadline: start.Add(5*time.Millisecond + time.Second)},
		}, rec.Calls(), "each call's attempt, start and deadline (zero when none)")

		calls := rec.Calls()
		calls[0].Attempt = 99
		assert.Equal(t, 1, rec.Calls()[0].Attempt, "Calls must return a copy")
	})
}

func TestRecorderStartsAndGaps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := policytest.Record(policytest.FailTimes(0, errBoom, 1))
		assert.Empty(t, rec.Starts())
		assert.Nil(t, rec.Gaps(), "no gap before two calls")
		time.Sleep(10 * time.Millisecond)
		_, _ = rec.Func(t.Context())
		assert.Nil(t, rec.Gaps(), "no gap before two calls")
		time.Sleep(100 * time.Millisecond)
		_, _ = rec.Func(t.Context())
		time.Sleep(200 * time.Millisecond)
		_, _ = rec.Func(t.Context())
		assert.Equal(t, []time.Duration{10 * time.Millisecond, 110 * time.Millisecond, 310 * time.Millisecond}, rec.Starts(),
			"starts are measured from Record")
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}, rec.Gaps())

		var zero policytest.Recorder[int]
		_, _ = zero.Func(t.Context())
		time.Sleep(time.Second)
		_, _ = zero.Func(t.Context())
		assert.Equal(t, []time.Duration{0, time.Second}, zero.Starts(), "a zero Recorder measures from its first call")
	})
}

func TestRecorderConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const n = 5
		rec := policytest.Record(policytest.Latency(time.Second, 0))
		var wg sync.WaitGroup
		for range n {
			// Owner: this test; exits when the call returns after 1s of bubble time; joined by wg.Wait.
			wg.Go(func() { _, _ = rec.Func(t.Context()) })
		}
		synctest.Wait()
		assert.Equal(t, n, rec.Running(), "all calls are in the Func")
		assert.Equal(t, n, rec.MaxConcurrent())
		wg.Wait()
		assert.Zero(t, rec.Running(), "all calls returned")
		assert.Equal(t, n, rec.MaxConcurrent(), "the high-water mark stays")

		// Sequential calls do not raise the mark.
		rec = policytest.Record(policytest.Latency(time.Millisecond, 0))
		for range 3 {
			_, _ = rec.Func(t.Context())
		}
		assert.Equal(t, 1, rec.MaxConcurrent())
	})
}

func TestRecorderPanic(t *testing.T) {
	rec := policytest.Record(policytest.Panics[int]("crash"))
	assert.PanicsWithValue(t, "crash", func() { _, _ = rec.Func(context.Background()) }, "the Recorder passes panics on")
	assert.Equal(t, 1, rec.Count(), "a panicking call is recorded")
	assert.Zero(t, rec.Running(), "a panicking call is no longer running")
	assert.Equal(t, 1, rec.MaxConcurrent())
}

func TestRecordNilFunc(t *testing.T) {
	rec := policytest.Record[int](nil)
	_, err := rec.Func(context.Background())
	policytest.AssertInvalidConfig(t, err, "fn")
	assert.Equal(t, 1, rec.Count())
}

// TestRecorderRace reads the Recorder while calls run; run with -race.
func TestRecorderRace(t *testing.T) {
	const goroutines, loops = 8, 200
	rec := policytest.Record(policytest.FailTimes(10, errBoom, 1))
	var wg sync.WaitGroup
	for range goroutines {
		// Owner: this test; exits after loops calls; joined by wg.Wait.
		wg.Go(func() {
			for i := range loops {
				_, _ = rec.Func(context.Background())
				if i%20 == 0 {
					_ = rec.Calls()
					_ = rec.Attempts()
					_ = rec.Running()
					_ = rec.MaxConcurrent()
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, goroutines*loops, rec.Count(), "no lost calls")
	assert.LessOrEqual(t, rec.MaxConcurrent(), goroutines)
	assert.GreaterOrEqual(t, rec.MaxConcurrent(), 1)
}
