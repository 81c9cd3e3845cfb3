package policy_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

// hedgeScript is a Func whose attempt n (by policy.Attempt) takes
// latency[n-1] and then returns result[n-1]; it honours ctx. It records
// each attempt's start and how it ended.
type hedgeScript struct {
	latency []time.Duration
	fail    []bool
	log     *policytest.Recorder[string] // records the calls of run

	// mu guards the fields below.
	mu        sync.Mutex
	cancelled []int // attempts that ended because their ctx was cancelled
	finished  atomic.Int32
}

func newHedgeScript(latency []time.Duration, fail []bool) *hedgeScript {
	s := &hedgeScript{latency: latency, fail: fail}
	s.log = policytest.Record(s.run)
	return s
}

// fn runs an attempt and records it.
func (s *hedgeScript) fn(ctx context.Context) (string, error) { return s.log.Func(ctx) }

func (s *hedgeScript) run(ctx context.Context) (string, error) {
	defer s.finished.Add(1)
	n := policy.Attempt(ctx)
	t := time.NewTimer(s.latency[n-1])
	defer t.Stop()
	select {
	case <-t.C:
		if s.fail[n-1] {
			return "", errTransient
		}
		return "attempt " + string(rune('0'+n)), nil
	case <-ctx.Done():
		s.mu.Lock()
		s.cancelled = append(s.cancelled, n)
		s.mu.Unlock()
		return "", ctx.Err()
	}
}

func TestHedge(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name      string
		hedges    int
		latency   []time.Duration
		fail      []bool
		want      string
		wantErr   error
		elapsed   time.Duration
		starts    []time.Duration
		cancelled []int
	}{
		{"no fire: the first attempt is fast", 1, []time.Duration{50 * ms}, []bool{false},
			"attempt 1", nil, 50 * ms, []time.Duration{0}, nil},
		{"the hedge wins", 1, []time.Duration{time.Second, 30 * ms}, []bool{false, false},
			"attempt 2", nil, 130 * ms, []time.Duration{0, 100 * ms}, []int{1}},
		{"the first attempt still wins", 2, []time.Duration{250 * ms, time.Second, time.Second}, []bool{false, false, false},
			"attempt 1", nil, 250 * ms, []time.Duration{0, 100 * ms, 200 * ms}, []int{2, 3}},
		{"a failure does not end the call while a hedge runs", 1, []time.Duration{150 * ms, 100 * ms}, []bool{true, false},
			"attempt 2", nil, 200 * ms, []time.Duration{0, 100 * ms}, nil},
		{"a failure before the delay ends the call", 3, []time.Duration{10 * ms}, []bool{true},
			"", errTransient, 10 * ms, []time.Duration{0}, nil},
		{"all fail: the last result is returned", 1, []time.Duration{150 * ms, 300 * ms}, []bool{true, true},
			"", errTransient, 400 * ms, []time.Duration{0, 100 * ms}, nil},
		{"hedges keep starting while attempts run", 3, []time.Duration{time.Second, 150 * ms, time.Second, 10 * ms}, []bool{false, true, false, false},
			"attempt 4", nil, 310 * ms, []time.Duration{0, 100 * ms, 200 * ms, 300 * ms}, []int{1, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s := newHedgeScript(tc.latency, tc.fail)
				h := policy.Hedge[string](100*ms, policy.WithHedges(tc.hedges))
				start := time.Now()
				v, err := policy.Run(t.Context(), h, s.fn)
				assert.Equal(t, tc.elapsed, time.Since(start))
				assert.Equal(t, tc.want, v)
				assert.Equal(t, tc.wantErr, err)
				assert.Equal(t, tc.starts, s.log.Starts(), "hedges start delay after one another")
				s.mu.Lock()
				assert.ElementsMatch(t, tc.cancelled, s.cancelled, "the losers are cancelled")
				s.mu.Unlock()
				assert.Equal(t, int32(s.log.Count()), s.finished.Load(), "every attempt has returned when Hedge returns")
			})
		})
	}
	goleak.VerifyNone(t)
}

func TestHedgeFuncDelays(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHedgeScript([]time.Duration{time.Hour, time.Hour, time.Hour, 0}, make([]bool, 4))
		var asked []int
		h := policy.HedgeFunc[string](func(n int) time.Duration {
			asked = append(asked, n)
			if n == 3 {
				return -time.Second // counts as 0
			}
			return time.Duration(n) * 100 * time.Millisecond
		}, policy.WithHedges(3))
		v, err := policy.Run(t.Context(), h, s.fn)
		require.NoError(t, err)
		assert.Equal(t, "attempt 4", v)
		assert.Equal(t, []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 300 * time.Millisecond}, s.log.Starts())
		assert.Equal(t, []int{1, 2, 3}, asked)
		assert.Equal(t, "hedge(delay=func hedges=3)", h.String())
	})
}

func TestHedgeZeroDelayStartsAllAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHedgeScript([]time.Duration{30, 20, 10}, make([]bool, 3))
		v, err := policy.Run(t.Context(), policy.Hedge[string](0, policy.WithHedges(2)), s.fn)
		require.NoError(t, err)
		assert.Equal(t, "attempt 3", v, "the fastest attempt wins")
		assert.Equal(t, []time.Duration{0, 0, 0}, s.log.Starts())
		assert.ElementsMatch(t, []int{1, 2, 3}, s.log.Attempts())
	})
}

func TestHedgeAttemptNumbersFollowOuterRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		l := policytest.Record(func(ctx context.Context) (string, error) {
			if calls.Add(1) == 1 {
				time.Sleep(20 * time.Millisecond)
			}
			return "", errTransient
		})
		p := policy.Compose(
			policy.Retry[string](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0))),
			policy.Hedge[string](10*time.Millisecond),
		)
		_, err := p.Run(t.Context(), l.Func)
		assert.ErrorIs(t, err, policy.ErrRetriesExhausted)
		assert.Equal(t, []int{1, 2, 2}, l.Attempts(), "retry 1 hedged as 2, then retry 2 fails before its hedge")
	})
}

func TestHedgePanics(t *testing.T) {
	for _, which := range []int{1, 2} {
		t.Run("attempt "+string(rune('0'+which)), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rec := observe.NewRecorder()
				var other atomic.Bool
				h := policy.Hedge[int](100*time.Millisecond, policy.WithLogger(rec))
				_, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
					n := policy.Attempt(ctx)
					if n == which {
						time.Sleep(200 * time.Millisecond)
						panic("boom")
					}
					<-ctx.Done()
					other.Store(true)
					return 0, ctx.Err()
				})
				var pe *ion.PanicError
				require.ErrorAs(t, err, &pe, "a panic in any attempt becomes a *PanicError, never a crash")
				assert.Equal(t, "boom", pe.Value)
				assert.NotEmpty(t, pe.Stack)
				assert.True(t, other.Load(), "the other attempt was cancelled and waited for")
				logs := rec.Logs()
				require.Len(t, logs, 1)
				assert.Equal(t, "hedge attempt panicked", logs[0].Msg)
			})
		})
	}
	t.Run("classifier", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			p := policy.Compose[int](policy.Hedge[int](time.Millisecond)).WithClassifier(func(int, error) policy.Outcome { panic("classify") })
			_, err := p.Run(t.Context(), func(context.Context) (int, error) { return 1, nil })
			var pe *ion.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "classify", pe.Value)
		})
	})
	t.Run("delay func", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := policy.HedgeFunc[int](func(n int) time.Duration {
				if n == 2 {
					panic("delay")
				}
				return time.Millisecond
			}, policy.WithHedges(2))
			var cancelled atomic.Int32
			_, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
				<-ctx.Done()
				cancelled.Add(1)
				return 0, ctx.Err()
			})
			var pe *ion.PanicError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "delay", pe.Value)
			assert.Equal(t, int32(1), cancelled.Load(), "the first attempt was cancelled; the hedge never started")
		})
	})
}

func TestHedgeCallerCancellation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := newHedgeScript([]time.Duration{time.Hour, time.Hour}, make([]bool, 2))
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(50*time.Millisecond, cancel)
		var got []policy.Outcome
		start := time.Now()
		_, err := policy.Compose(probe[string](&got), policy.Hedge[string](100*time.Millisecond)).Run(ctx, s.fn)
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 50*time.Millisecond, time.Since(start))
		assert.Equal(t, 1, s.log.Count(), "no hedge starts once the caller has gone")
		assert.Equal(t, []policy.Outcome{policy.Ignored}, got)
		time.Sleep(time.Second)
		assert.Equal(t, 1, s.log.Count())
	})
}

func TestHedgeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		budget := policy.NewBudget(0, 1) // one hedge per second
		h := policy.Hedge[string](10*time.Millisecond, policy.WithHedges(3), policy.WithBudget(budget), policy.WithMetrics(rec))
		s := newHedgeScript([]time.Duration{time.Second, time.Second, time.Second, time.Second}, make([]bool, 4))
		v, err := policy.Run(t.Context(), h, s.fn)
		require.NoError(t, err)
		assert.Equal(t, "attempt 1", v)
		assert.Equal(t, 2, s.log.Count(), "the budget allowed one hedge only")
		labels := []observe.Label{observe.L("name", "hedge"), observe.L("policy", "hedge")}
		assert.Equal(t, int64(1), rec.Count("ion_policy_hedges_total", labels...))
		assert.Equal(t, int64(2), rec.Count("ion_policy_attempts_total", labels...))
		assert.Equal(t, int64(1), rec.Count("ion_policy_budget_refused_total", labels...))
	})
}

func TestHedgeBadConfig(t *testing.T) {
	tests := []struct {
		name  string
		h     *policy.HedgeLayer[int]
		param string
	}{
		{"negative delay", policy.Hedge[int](-1), "Hedge delay"},
		{"nil delay func", policy.HedgeFunc[int](nil), "HedgeFunc delay"},
		{"zero hedges", policy.Hedge[int](0, policy.WithHedges(0)), "WithHedges"},
		{"nil budget", policy.Hedge[int](0, policy.WithBudget(nil)), "WithBudget"},
		{"nil option", policy.Hedge[int](0, nil), "option 0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *ion.ConfigError
			require.ErrorAs(t, tc.h.Err(), &ce)
			assert.Equal(t, tc.param, ce.Param)
			called := false
			_, err := policy.Run(context.Background(), tc.h, func(context.Context) (int, error) { called = true; return 1, nil })
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			assert.False(t, called)
			assert.Contains(t, tc.h.String(), "hedge(invalid: ")
		})
	}
}

func TestHedgeObserve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		h := policy.Hedge[string](time.Millisecond, policy.WithName("search"), policy.WithTracer(rec))
		assert.Equal(t, "hedge(search delay=1ms hedges=1)", h.String())
		_, err := policy.Run(t.Context(), h, func(context.Context) (string, error) { return "", errTransient })
		require.Error(t, err)
		spans := rec.Spans()
		require.Len(t, spans, 1)
		assert.Equal(t, observe.SpanRecord{Name: h.String(), Ended: true, Outcome: "failure", Err: errTransient}, spans[0])
	})
}

func TestHedgeDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	direct := policy.New("direct", func(_ context.Context, n policy.Next[int]) (int, error) {
		return policy.Hedge[int](0).Execute(ctx, n)
	})
	_, err := policy.Run(context.Background(), direct, func(context.Context) (int, error) { called = true; return 1, nil })
	assert.ErrorIs(t, err, context.Canceled)
	assert.False(t, called)
}

// TestHedgeStress races many calls with random latencies through one Hedge
// and checks that every attempt has returned when its call returns.
func TestHedgeStress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := policy.Hedge[int](5*time.Millisecond, policy.WithHedges(2), policy.WithBudget(policy.NewBudget(0.5, 10)))
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Go(func() {
				for i := range 40 {
					var running atomic.Int32
					seed := w*131 + i*17
					_, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
						running.Add(1)
						defer running.Add(-1)
						n := policy.Attempt(ctx)
						d := time.Duration((seed*n)%13) * time.Millisecond
						select {
						case <-time.After(d):
						case <-ctx.Done():
							return 0, ctx.Err()
						}
						if (seed+n)%4 == 0 {
							return 0, errTransient
						}
						if (seed+n)%29 == 0 {
							panic("stress")
						}
						return n, nil
					})
					if err != nil && !errors.Is(err, errTransient) {
						var pe *ion.PanicError
						assert.ErrorAs(t, err, &pe)
					}
					assert.Zero(t, running.Load(), "no attempt runs after its call returned")
				}
			})
		}
		wg.Wait()
	})
}

// isGoexit reports whether err is the *ion.PanicError that reports a call
// to runtime.Goexit.
func isGoexit(err error) bool {
	var pe *ion.PanicError
	if !errors.As(err, &pe) {
		return false
	}
	v, ok := pe.Value.(error)
	return ok && strings.Contains(v.Error(), "runtime.Goexit") && len(pe.Stack) > 0
}

// TestHedgeGoexitInHedgeHangsTheCall guards the bug that an attempt that
// called runtime.Goexit (t.FailNow in a test's Func does) was never
// reported: only panics were recovered, so the call's count of running
// attempts never reached 0 and, once the other attempts had failed (or, as
// here, with no other attempt to end it), the caller waited forever. A
// Goexit must end the call at once, as a panic does, with a *ion.PanicError;
// in the first attempt, on the caller's goroutine, Goexit goes on after the
// hedges have been cancelled and waited for.
func TestHedgeGoexitInHedgeHangsTheCall(t *testing.T) {
	t.Run("hedge", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			rec := observe.NewRecorder()
			h := policy.Hedge[int](10*time.Millisecond, policy.WithLogger(rec)) // one hedge: nothing else ends the call
			var firstCancelled atomic.Bool
			start := time.Now()
			v, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
				if policy.Attempt(ctx) == 2 {
					runtime.Goexit()
				}
				<-ctx.Done()
				firstCancelled.Store(true)
				return 0, ctx.Err()
			})
			assert.True(t, isGoexit(err), "a Goexit in a hedge ends the call as a panic does, got (%d, %v)", v, err)
			assert.Equal(t, 10*time.Millisecond, time.Since(start), "at once, when the hedge exits")
			assert.True(t, firstCancelled.Load(), "the first attempt was cancelled and waited for")
			logs := rec.Logs()
			require.Len(t, logs, 1)
			assert.Equal(t, "hedge attempt panicked", logs[0].Msg)
		})
	})
	t.Run("first attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := policy.Hedge[int](10 * time.Millisecond)
			var hedgeEnded, returned, hedgeEndedFirst atomic.Bool
			exited := make(chan struct{})
			// Owner: this test. Exit: the first attempt calls
			// runtime.Goexit at 20ms. Join: <-exited.
			go func() {
				defer close(exited)
				defer func() { hedgeEndedFirst.Store(hedgeEnded.Load()) }()
				_, _ = policy.Run(context.Background(), h, func(ctx context.Context) (int, error) {
					if policy.Attempt(ctx) == 1 {
						time.Sleep(20 * time.Millisecond)
						runtime.Goexit()
					}
					<-ctx.Done()
					hedgeEnded.Store(true)
					return 0, ctx.Err()
				})
				returned.Store(true)
			}()
			<-exited
			assert.False(t, returned.Load(), "Goexit on the caller's goroutine cannot be stopped")
			assert.True(t, hedgeEndedFirst.Load(), "the hedge was cancelled and waited for before the goroutine exited")
		})
	})
	t.Run("delay func", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := policy.HedgeFunc[int](func(n int) time.Duration {
				if n == 2 {
					runtime.Goexit() // on the first hedge's goroutine
				}
				return time.Millisecond
			}, policy.WithHedges(2))
			var attempts, cancelled atomic.Int32
			start := time.Now()
			_, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
				attempts.Add(1)
				<-ctx.Done()
				cancelled.Add(1)
				return 0, ctx.Err()
			})
			assert.True(t, isGoexit(err), "a Goexit in the delay function ends the call as a panic does, got %v", err)
			assert.Equal(t, time.Millisecond, time.Since(start))
			assert.Equal(t, int32(1), attempts.Load(), "the hedge never started")
			assert.Equal(t, int32(1), cancelled.Load())
		})
	})
}

// FuzzHedge builds a Hedge with an arbitrary delay and hedge count and runs
// attempts with arbitrary latencies. Properties: no panic; invalid settings
// fail closed; a valid one returns a result from one of its attempts and
// leaves no goroutine behind (the bubble would deadlock otherwise).
func FuzzHedge(f *testing.F) {
	f.Add(int64(time.Millisecond), 2, []byte{5, 1, 9})
	f.Add(int64(-1), 1, []byte{})
	f.Add(int64(0), 0, []byte{0})
	f.Add(int64(0), 7, []byte{3, 3, 3, 3, 3, 3, 3, 3})
	f.Fuzz(func(t *testing.T, delay int64, hedges int, latencies []byte) {
		h := policy.Hedge[int](time.Duration(delay), policy.WithHedges(hedges%10))
		synctest.Test(t, func(t *testing.T) {
			v, err := policy.Run(t.Context(), h, func(ctx context.Context) (int, error) {
				n := policy.Attempt(ctx)
				lat := time.Duration(0)
				if len(latencies) > 0 {
					lat = time.Duration(latencies[(n-1)%len(latencies)]) * time.Millisecond
				}
				select {
				case <-time.After(lat):
				case <-ctx.Done():
					return 0, ctx.Err()
				}
				if lat%3 == 0 {
					return 0, errTransient
				}
				return n, nil
			})
			if h.Err() != nil {
				checkConfigErr(t, err)
				return
			}
			if err != nil && !errors.Is(err, errTransient) {
				t.Fatalf("unexpected error %v", err)
			}
			if err == nil && (v < 1 || v > 1+hedges%10) {
				t.Fatalf("result %d is not from one of the attempts", v)
			}
		})
	})
}
