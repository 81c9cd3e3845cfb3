// Package policytest provides what a test needs to check a policy, or code
// that uses one, in isolation: scripted calls, a recorder of calls, and
// assertions that read well beside testify's.
//
// # Scripted calls
//
// Each of these returns a [policy.Func] that plays a dependency:
//
//   - [FailTimes]: fails n times, then succeeds for good (the dependency
//     that recovers).
//   - [Sequence]: returns fixed [Result] values in order ([Ok], [Fail]),
//     then [ErrExhausted].
//   - [Latency] and [Delay]: take a fixed time, on a timer that honours ctx.
//   - [Panics]: panics on every call.
//
// They are safe for concurrent use: their counters are atomic.
//
// # Recording calls
//
// [Record] wraps a Func in a [Recorder]: pass rec.Func to the code under
// test, then read what happened. For each call, [Recorder.Calls] reports its
// attempt number (policy.Attempt), its start time and its ctx deadline;
// [Recorder.MaxConcurrent] reports how many calls ran at once.
//
// # Assertions
//
// [AssertOutcome] (how a result is classified), [AssertRetryAfter],
// [AssertLayers] (each layer by its kind, such as "retry" or "breaker", or
// by its full description) and [AssertInvalidConfig] take a [TestingT] (any
// *testing.T), call t.Helper, report in the form "Layers() = got, want
// want" and return whether the check passed, like testify's assert
// functions; [RequireRejected] stops the test, like testify's require. The
// package itself does not import testify, so importing it adds no
// dependency.
//
// # Time: testing inside a synctest bubble
//
// Ion starts no goroutine that outlives a call and stops every timer it
// starts, so everything here works inside testing/synctest: time is virtual,
// waits are exact, and a test with seconds of delays runs in microseconds.
// [Delay] and [Latency] block on timers, never sleep, and the [Recorder]
// timestamps calls with the bubble's clock.
//
// A complete test of a user's policy (RetryBusy retries calls that fail with
// ErrBusy, pausing between attempts):
//
//	func RetryBusy[T any](attempts int, pause time.Duration) policy.Policy[T] {
//		return policy.New("retry-busy", func(ctx context.Context, next policy.Next[T]) (T, error) {
//			for n := 1; ; n++ {
//				v, err := next.Call(ctx)
//				if !errors.Is(err, ErrBusy) || n == attempts {
//					return v, err
//				}
//				t := time.NewTimer(pause)
//				select {
//				case <-t.C:
//				case <-ctx.Done():
//					t.Stop()
//					return v, ctx.Err()
//				}
//			}
//		})
//	}
//
//	func TestRetryBusy(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			p := policy.Compose(RetryBusy[string](3, 10*time.Millisecond))
//			policytest.AssertLayers(t, p, "retry-busy")
//
//			// A backend that takes 5ms per call and is busy twice.
//			backend := policytest.Record(policytest.Delay(5*time.Millisecond,
//				policytest.FailTimes(2, ErrBusy, "ok")))
//			start := time.Now()
//			v, err := p.Run(t.Context(), backend.Func)
//			require.NoError(t, err)
//			assert.Equal(t, "ok", v)
//			assert.Equal(t, 3, backend.Count(), "busy twice: two retries")
//			// Three calls of 5ms and two pauses of 10ms, exactly: the bubble's clock.
//			assert.Equal(t, 35*time.Millisecond, time.Since(start))
//			calls := backend.Calls()
//			assert.Equal(t, 15*time.Millisecond, calls[1].Start.Sub(calls[0].Start))
//
//			// The caller gives up after 12ms: no call after that.
//			ctx, cancel := context.WithTimeout(t.Context(), 12*time.Millisecond)
//			defer cancel()
//			backend = policytest.Record(policytest.FailTimes(5, ErrBusy, "ok"))
//			_, err = p.Run(ctx, backend.Func)
//			require.ErrorIs(t, err, context.DeadlineExceeded)
//			assert.Equal(t, 2, backend.Count(), "calls at 0ms and 10ms only")
//			assert.Equal(t, 2*time.Millisecond, backend.Calls()[1].Deadline.Sub(backend.Calls()[1].Start),
//				"the second call had 2ms left")
//		})
//	}
//
// The same pattern tests code that runs calls through any Ion pipeline: give
// it a scripted, recorded Func in place of the real dependency.
package policytest
