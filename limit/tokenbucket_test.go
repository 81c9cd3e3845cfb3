package limit_test

import (
	"context"
	"errors"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/observe"
)

// t0 is an arbitrary explicit time for the table tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// step is one AllowN call of a table test: at t0+at, n tokens, want ok.
type step struct {
	at time.Duration
	n  int
	ok bool
}

type allowerN interface {
	AllowN(now time.Time, n int) bool
}

func runSteps(t *testing.T, lim allowerN, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := lim.AllowN(t0.Add(s.at), s.n)
		require.Equalf(t, s.ok, got, "step %d: AllowN(t0+%v, %d) = %v, want %v", i, s.at, s.n, got, s.ok)
	}
}

func TestTokenBucketAllowN(t *testing.T) {
	const ms = time.Millisecond
	tests := []struct {
		name  string
		rate  limit.Rate
		burst int
		steps []step
	}{
		{"burst 1", 1, 1, []step{
			{0, 1, true}, {0, 1, false},
			{999 * ms, 1, false}, // not quite one token yet
			{time.Second, 1, true}, {time.Second, 1, false},
		}},
		{"burst 3 starts full", 10, 3, []step{
			{0, 2, true}, {0, 1, true}, {0, 1, false},
			{100 * ms, 1, true}, {100 * ms, 1, false},
			{400 * ms, 3, true}, // refilled to the burst, not beyond
			{400 * ms, 1, false},
			{time.Hour, 4, false}, // n above the burst is never admitted
			{time.Hour, 3, true},
		}},
		{"n zero always allowed, changes nothing", 1, 1, []step{
			{0, 0, true}, {0, 1, true}, {0, 0, true}, {0, 1, false},
		}},
		{"negative n refused, changes nothing", 1, 1, []step{
			{0, -1, false}, {0, 1, true},
		}},
		{"time going backwards mints no tokens", 1, 1, []step{
			{time.Second, 1, true},
			{0, 1, false}, // earlier than the last now: fewer tokens, not more
			{500 * ms, 1, false},
			{2 * time.Second, 1, true},
		}},
		{"zero rate admits the burst once", 0, 2, []step{
			{0, 1, true}, {time.Hour, 1, true}, {1000 * time.Hour, 1, false},
		}},
		{"zero rate and zero burst admit nothing", 0, 0, []step{
			{0, 1, false}, {0, 0, true},
		}},
		{"Inf admits everything, any n", limit.Inf, 0, []step{
			{0, 1, true}, {0, math.MaxInt32, true}, {0, 1, true},
		}},
		{"Every", limit.Every(250 * ms), 1, []step{
			{0, 1, true}, {249 * ms, 1, false}, {250 * ms, 1, true},
		}},
		{"PerMinute", limit.PerMinute(2), 1, []step{
			{0, 1, true}, {29 * time.Second, 1, false}, {30 * time.Second, 1, true},
		}},
		{"PerHour", limit.PerHour(1), 1, []step{
			{0, 1, true}, {59 * time.Minute, 1, false}, {time.Hour, 1, true},
		}},
		{"Per", limit.Per(3, time.Second), 3, []step{
			{0, 3, true}, {time.Second, 3, true}, {time.Second, 1, false},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lim := limit.NewTokenBucket(tc.rate, tc.burst)
			require.NoError(t, lim.Err())
			runSteps(t, lim, tc.steps)
		})
	}
}

func TestRateString(t *testing.T) {
	tests := []struct {
		r    limit.Rate
		want string
	}{
		{limit.PerSecond(10), "10/s"},
		{limit.Every(2 * time.Second), "0.5/s"},
		{limit.Inf, "inf"},
		{limit.Rate(math.Inf(1)), "inf"},
		{0, "0/s"},
	}
	for _, tc := range tests {
		assert.Equalf(t, tc.want, tc.r.String(), "Rate(%v).String()", float64(tc.r))
	}
	assert.True(t, math.IsNaN(float64(limit.Per(1, 0))), "Per(1, 0) must be NaN, which constructors reject")
	assert.Equal(t, limit.Inf, limit.Every(0), "Every(0) is unlimited")
}

func TestTokenBucketString(t *testing.T) {
	assert.Equal(t, "token-bucket 10/s burst 20", limit.NewTokenBucket(10, 20).String())
	assert.Equal(t, "token-bucket(api) 10/s burst 20", limit.NewTokenBucket(10, 20, limit.WithName("api")).String())
	assert.Equal(t, "token-bucket unlimited", limit.NewTokenBucket(limit.Inf, 0).String())
	assert.Contains(t, limit.NewTokenBucket(-1, 20).String(), "invalid")
}

// badLimits are the rates and bursts every constructor must reject, with
// the parameter the error must name ("burst" stands for the burst or the
// capacity).
var badLimits = []struct {
	name  string
	rate  limit.Rate
	burst int
	param string
}{
	{"NaN rate", limit.Rate(math.NaN()), 1, "rate"},
	{"negative rate", -1, 1, "rate"},
	{"-Inf rate", limit.Rate(math.Inf(-1)), 1, "rate"},
	{"Per with zero duration", limit.Per(1, 0), 1, "rate"},
	{"Every negative", limit.Every(-time.Second), 1, "rate"},
	{"negative burst", 1, -1, "burst"},
	{"negative burst with Inf", limit.Inf, -1, "burst"},
	{"zero burst with finite rate", 1, 0, "burst"},
	{"burst too large", 1, math.MaxInt, "burst"}, // above 2^50 where an int has 64 bits
}

func init() {
	if strconv.IntSize < 64 { // no int exceeds the bound of the burst
		badLimits = badLimits[:len(badLimits)-1]
	}
}

func requireConfigError(t *testing.T, err error, param string) {
	t.Helper()
	require.ErrorIs(t, err, ion.ErrInvalidConfig, "a bad configuration must fail closed with ErrInvalidConfig")
	var ce *ion.ConfigError
	require.True(t, errors.As(err, &ce), "the error must be a *ion.ConfigError, got %T", err)
	assert.Equal(t, "limit", ce.Pkg)
	assert.Contains(t, ce.Param, param, "the error must name the parameter")
}

func TestTokenBucketBadInputFailsClosed(t *testing.T) {
	for _, tc := range badLimits {
		t.Run(tc.name, func(t *testing.T) {
			lim := limit.NewTokenBucket(tc.rate, tc.burst)
			requireConfigError(t, lim.Err(), tc.param)
			assert.False(t, lim.Allow(), "Allow on a failed-closed bucket")
			assert.False(t, lim.AllowN(t0, 1), "AllowN on a failed-closed bucket")
			assert.ErrorIs(t, lim.Wait(context.Background()), ion.ErrInvalidConfig)
			assert.ErrorIs(t, lim.WaitN(context.Background(), 0), ion.ErrInvalidConfig, "even n = 0 reports the configuration error")
			assert.ErrorIs(t, lim.Admit(context.Background(), time.Second), ion.ErrInvalidConfig)
			assert.False(t, lim.ReserveN(t0, 1).OK())
			assert.ErrorIs(t, lim.SetRate(1), ion.ErrInvalidConfig)
			assert.ErrorIs(t, lim.SetBurst(1), ion.ErrInvalidConfig)
			assert.ErrorIs(t, lim.SetTemporaryLimit(1, 1, time.Second), ion.ErrInvalidConfig)
			lim.ClearTemporaryLimit()
			lim.DrainTo(0)
			assert.Zero(t, lim.Tokens())
			assert.False(t, lim.Allow(), "still closed after every setter")
		})
	}
}

func TestOptionsFailClosed(t *testing.T) {
	tests := []struct {
		name  string
		opt   limit.KeyedOption // every option is one
		param string
	}{
		{"nil option", nil, "opts"},
		{"nil logger", limit.WithLogger(nil), "WithLogger"},
		{"nil metrics", limit.WithMetrics(nil), "WithMetrics"},
		{"nil tracer", limit.WithTracer(nil), "WithTracer"},
		{"zero max keys", limit.WithMaxKeys(0), "WithMaxKeys"},
		{"negative idle TTL", limit.WithIdleTTL(-time.Second), "WithIdleTTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Each constructor that takes the option fails closed with it.
			if o, ok := tc.opt.(limit.BucketOption); ok || tc.opt == nil {
				requireConfigError(t, limit.NewTokenBucket(1, 1, o).Err(), tc.param)
				requireConfigError(t, limit.NewLeakyBucket(1, 1, o).Err(), tc.param)
			}
			requireConfigError(t, limit.NewKeyed[string](1, 1, tc.opt).Err(), tc.param)
		})
	}
}

// TestOptionsApplyOnlyWhereTheyMean checks the option interfaces: an option
// a constructor would ignore is not one of its options, so passing it does
// not compile (here, the type assertions a compiler makes).
func TestOptionsApplyOnlyWhereTheyMean(t *testing.T) {
	isBucket := func(o any) bool { _, ok := o.(limit.BucketOption); return ok }
	isKeyed := func(o any) bool { _, ok := o.(limit.KeyedOption); return ok }
	tests := []struct {
		name          string
		opt           any
		bucket, keyed bool
	}{
		{"WithName", limit.WithName("x"), true, true},
		{"WithMetrics", limit.WithMetrics(observe.NewRecorder()), true, true},
		{"WithMaxKeys", limit.WithMaxKeys(1), false, true},
		{"WithIdleTTL", limit.WithIdleTTL(time.Second), false, true},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.bucket, isBucket(tc.opt), "%s for NewTokenBucket", tc.name)
		assert.Equal(t, tc.keyed, isKeyed(tc.opt), "%s for NewKeyed", tc.name)
	}
}

func TestConfigErrorIsLogged(t *testing.T) {
	rec := observe.NewRecorder()
	lim := limit.NewTokenBucket(-1, 1, limit.WithLogger(rec))
	require.Error(t, lim.Err())
	logs := rec.Logs()
	require.Len(t, logs, 1, "a construction that fails closed is logged once")
	assert.Contains(t, logs[0].Msg, "failing closed")
}

func TestPerCallBadInput(t *testing.T) {
	lim := limit.NewTokenBucket(1, 2)
	ctx := context.Background()

	assert.ErrorIs(t, lim.WaitN(ctx, -1), limit.ErrNegativeN)
	assert.ErrorIs(t, lim.WaitN(ctx, 3), limit.ErrExceedsBurst, "n > burst fails at once, without sleeping")
	assert.False(t, lim.ReserveN(t0, -1).OK())
	assert.False(t, lim.ReserveN(t0, 3).OK())
	assert.False(t, lim.AllowN(t0, 3))
	assert.NoError(t, lim.WaitN(ctx, 0))
	r := lim.ReserveN(t0, 0)
	assert.True(t, r.OK(), "a reservation of 0 tokens is OK")
	assert.Zero(t, r.DelayFrom(t0))

	assert.True(t, lim.AllowN(t0, 2), "none of the bad calls changed the state")
	var nilCtx context.Context
	assert.ErrorIs(t, lim.WaitN(nilCtx, 1), ion.ErrInvalidConfig, "a nil ctx fails instead of panicking")
}

func TestWaitDoneContextFailsEvenOnFastPath(t *testing.T) {
	lim := limit.NewTokenBucket(limit.Inf, 0)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, lim.Wait(ctx), context.Canceled)
	assert.ErrorIs(t, lim.Admit(ctx, 0), context.Canceled)
}

func TestExtremeRates(t *testing.T) {
	t.Run("1e12 per second", func(t *testing.T) {
		lim := limit.NewTokenBucket(1e12, 1000)
		runSteps(t, lim, []step{
			{0, 1000, true}, {0, 1, false},
			{time.Nanosecond, 1000, true}, // 1 ns mints 1000 tokens
			{time.Nanosecond, 1, false},
			{time.Hour, 1000, true}, // far past the fixed-point window: no overflow
			{time.Hour, 1, false},
			{time.Hour + time.Nanosecond, 1000, true},
		})
		assert.Equal(t, limit.Rate(1e12), lim.Rate())
	})
	t.Run("1e-10 per second", func(t *testing.T) {
		lim := limit.NewTokenBucket(1e-10, 1)
		runSteps(t, lim, []step{
			{0, 1, true},
			{0, 1, false},
			{100 * 365 * 24 * time.Hour, 1, false}, // one token per 317 years
		})
		r := lim.ReserveN(t0, 1)
		assert.False(t, r.OK(), "a wait past the range of time.Duration is not reserved")
		assert.Equal(t, time.Duration(math.MaxInt64), r.DelayFrom(t0))
	})
	t.Run("long idle periods", func(t *testing.T) {
		lim := limit.NewTokenBucket(1e6, 10)
		at := time.Duration(0)
		for range 20 {
			require.True(t, lim.AllowN(t0.Add(at), 10), "full again after a long idle period")
			require.False(t, lim.AllowN(t0.Add(at), 1))
			at += 24 * time.Hour
		}
	})
}

// TestGolangGo34861NoTruncation guards against the x/time/rate bug where
// truncating nanoseconds in the token arithmetic lost a token.
func TestGolangGo34861NoTruncation(t *testing.T) {
	require.True(t, limit.NewTokenBucket(0.7692307692307693, 1).Allow(), "a full bucket of 1 admits 1")
	lim := limit.NewTokenBucket(0.7692307692307693, 1) // one token every 1.3 s
	runSteps(t, lim, []step{
		{0, 1, true},
		{1300*time.Millisecond - time.Nanosecond, 1, false},
		{1300 * time.Millisecond, 1, true},
	})
}

// TestGolangGo39984NoOverflowForSlowRates guards against the x/time/rate
// overflow where converting a large number of tokens to a duration wrapped
// around, giving a negative or tiny delay for a slow rate.
func TestGolangGo39984NoOverflowForSlowRates(t *testing.T) {
	const century = 100 * 365 * 24 * time.Hour
	lim := limit.NewTokenBucket(limit.Every(century), 2)
	require.True(t, lim.AllowN(t0, 2))
	r := lim.ReserveN(t0, 1)
	require.True(t, r.OK())
	assert.InEpsilon(t, float64(century), float64(r.DelayFrom(t0)), 1e-9,
		"the delay of the next token is a century, not a wrapped value")
	assert.False(t, lim.AllowN(t0.Add(century/2), 1))
}

// TestGolangGo71154TinyRate guards against the x/time/rate overflow (on
// amd64) that let a limiter of rate 1e-10 admit more than its burst.
func TestGolangGo71154TinyRate(t *testing.T) {
	lim := limit.NewTokenBucket(1e-10, 1)
	require.True(t, lim.Allow(), "the first request uses the burst")
	require.False(t, lim.Allow(), "the bucket has not refilled")
	require.False(t, lim.AllowN(time.Now().Add(time.Hour), 1))
}

// TestGolangGo52584FailedReservationChangesNothing guards against the
// x/time/rate bug where a reservation that was not OK (n above the burst,
// or a wait beyond the allowed one) still advanced the limiter's state,
// making the next reservation wait longer than it should.
func TestGolangGo52584FailedReservationChangesNothing(t *testing.T) {
	lim := limit.NewTokenBucket(limit.PerHour(1), 1)
	now := time.Now()
	require.True(t, lim.AllowN(now, 1))
	require.False(t, lim.ReserveN(now, 2).OK(), "n above the burst")
	require.False(t, lim.AllowN(now, 1), "a wait of an hour is beyond Allow's 0")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.ErrorIs(t, lim.Wait(ctx), limit.ErrLimited, "a wait that cannot fit the deadline fails")
	require.ErrorIs(t, lim.Admit(ctx, time.Minute), limit.ErrLimited, "a wait beyond the max wait fails")

	r := lim.ReserveN(now, 1)
	require.True(t, r.OK())
	assert.Equal(t, time.Hour, r.DelayFrom(now), "the failed attempts did not push the next token back")
}

func TestReservation(t *testing.T) {
	t.Run("delay and cancel of the last reservation", func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.True(t, lim.AllowN(t0, 1))
		r := lim.ReserveN(t0, 1)
		require.True(t, r.OK())
		assert.Equal(t, time.Second, r.DelayFrom(t0))
		assert.Equal(t, 400*time.Millisecond, r.DelayFrom(t0.Add(600*time.Millisecond)))
		assert.Zero(t, r.DelayFrom(t0.Add(2*time.Second)))
		r.CancelAt(t0)
		assert.True(t, lim.AllowN(t0.Add(time.Second), 1), "the cancelled token is back")
	})
	t.Run("cancel keeps what later reservations counted on", func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.True(t, lim.AllowN(t0, 1))
		r1 := lim.ReserveN(t0, 1) // acts at 1 s
		r2 := lim.ReserveN(t0, 1) // acts at 2 s, counting on r1's slot
		require.Equal(t, 2*time.Second, r2.DelayFrom(t0))
		r1.CancelAt(t0)
		r3 := lim.ReserveN(t0, 1)
		assert.Equal(t, 3*time.Second, r3.DelayFrom(t0),
			"r2 keeps its time, so r1's token cannot be given back without exceeding the rate")
	})
	t.Run("cancel after the time to act gives nothing back", func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		r := lim.ReserveN(t0, 1)
		require.Zero(t, r.DelayFrom(t0))
		r.CancelAt(t0.Add(time.Millisecond))
		assert.False(t, lim.AllowN(t0.Add(time.Millisecond), 1), "the token was presumed used")
	})
	t.Run("cancel twice refunds once", func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 3)
		require.True(t, lim.AllowN(t0, 1))
		r := lim.ReserveN(t0, 2)
		r.CancelAt(t0)
		r.CancelAt(t0)
		assert.True(t, lim.AllowN(t0, 2))
		assert.False(t, lim.AllowN(t0, 1), "a second Cancel must not mint tokens")
	})
	t.Run("reservations are served in order, large n not starved", func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 5)
		require.True(t, lim.AllowN(t0, 5))
		big := lim.ReserveN(t0, 5)   // 500 ms
		small := lim.ReserveN(t0, 1) // after big: 600 ms
		assert.Equal(t, 500*time.Millisecond, big.DelayFrom(t0))
		assert.Equal(t, 600*time.Millisecond, small.DelayFrom(t0))
	})
	t.Run("Inf", func(t *testing.T) {
		r := limit.NewTokenBucket(limit.Inf, 0).ReserveN(t0, 100)
		assert.True(t, r.OK())
		assert.Zero(t, r.DelayFrom(t0))
		r.CancelAt(t0)
	})
	t.Run("not OK", func(t *testing.T) {
		r := limit.NewTokenBucket(0, 1).ReserveN(t0, 2)
		assert.False(t, r.OK())
		r.Cancel() // no effect, no panic
		assert.Equal(t, time.Duration(math.MaxInt64), r.Delay())
	})
}

// TestAllowRaceExactBurst races 1,000 goroutines for a burst of 5: exactly
// 5 are admitted.
func TestAllowRaceExactBurst(t *testing.T) {
	for _, mode := range []string{"explicit now", "clock"} {
		t.Run(mode, func(t *testing.T) {
			lim := limit.NewTokenBucket(limit.PerHour(1), 5)
			var admitted atomic.Int64
			var start, done sync.WaitGroup
			start.Add(1)
			for range 1000 {
				done.Go(func() {
					start.Wait()
					var ok bool
					if mode == "explicit now" {
						ok = lim.AllowN(t0, 1)
					} else {
						ok = lim.Allow()
					}
					if ok {
						admitted.Add(1)
					}
				})
			}
			start.Done()
			done.Wait()
			assert.EqualValues(t, 5, admitted.Load(), "1,000 goroutines racing for burst 5 must admit exactly 5")
		})
	}
}

// TestConformanceLongRun attempts a request every 2 ms for 5 s at rate 100
// and burst 100 (explicit times): the admitted count must be within
// [0.999 × ideal, ideal + 1], where ideal = burst + rate × 5 s. The other
// rows check other rates the same way; with a burst of 1 the attempts must
// fall on the token interval's grid, since a full bucket of 1 cannot bank
// the time between a token's arrival and the next attempt.
func TestConformanceLongRun(t *testing.T) {
	tests := []struct {
		name  string
		rate  limit.Rate
		burst int
		every time.Duration
	}{
		{"rate 100 burst 100 every 2ms", 100, 100, 2 * time.Millisecond},
		{"rate 3 burst 2 every 1ms", 3, 2, time.Millisecond},
		{"rate 1000 burst 1 every 100us", 1000, 1, 100 * time.Microsecond},
		{"rate 0.77 burst 2 every 7ms", 0.7692307692307693, 2, 7 * time.Millisecond},
		{"rate 1e4 burst 10 every 50us", 1e4, 10, 50 * time.Microsecond},
	}
	const length = 5 * time.Second
	for _, tc := range tests {
		ideal := float64(tc.burst) + math.Floor(float64(tc.rate)*length.Seconds()) // whole tokens
		for _, lim := range []allowerN{
			limit.NewTokenBucket(tc.rate, tc.burst),
			limit.NewLeakyBucket(tc.rate, tc.burst),
			keyedAllower{limit.NewKeyed[int](tc.rate, tc.burst)},
		} {
			t.Run(tc.name+"/"+lim.(interface{ String() string }).String(), func(t *testing.T) {
				admitted := 0
				for at := time.Duration(0); at <= length; at += tc.every {
					if lim.AllowN(t0.Add(at), 1) {
						admitted++
					}
				}
				assert.GreaterOrEqual(t, float64(admitted), 0.999*ideal, "admitted too few")
				assert.LessOrEqual(t, float64(admitted), ideal+1, "admitted more than the rate allows")
			})
		}
	}
}

type keyedAllower struct{ k *limit.Keyed[int] }

func (a keyedAllower) AllowN(now time.Time, n int) bool { return a.k.AllowN(now, 7, n) }
func (a keyedAllower) String() string                   { return a.k.String() }

func TestZeroAllocs(t *testing.T) {
	tb := limit.NewTokenBucket(limit.Inf, 0)
	fast := limit.NewTokenBucket(1e9, 1e6)
	slow := limit.NewTokenBucket(1, 1)
	lb := limit.NewLeakyBucket(1e9, 1e6)
	rec := observe.NewRecorder()
	withMetrics := limit.NewTokenBucket(1e9, 1e6, limit.WithMetrics(rec))
	ctx := context.Background()
	now := time.Now()
	cases := map[string]func(){
		"Allow":                  func() { fast.Allow() },
		"Allow refused":          func() { slow.Allow() },
		"AllowN":                 func() { fast.AllowN(now, 1) },
		"Allow Inf":              func() { tb.Allow() },
		"Wait immediate":         func() { _ = fast.Wait(ctx) },
		"Admit immediate":        func() { _ = fast.Admit(ctx, time.Second) },
		"leaky Allow":            func() { lb.Allow() },
		"Allow with metrics":     func() { withMetrics.Allow() },
		"Wait with metrics":      func() { _ = withMetrics.Wait(ctx) },
		"Tokens":                 func() { fast.Tokens() },
		"WaitN immediate, large": func() { _ = fast.WaitN(ctx, 1000) },
	}
	for name, f := range cases {
		assert.Zerof(t, testing.AllocsPerRun(1000, f), "%s must not allocate", name)
	}
}

func TestMetrics(t *testing.T) {
	rec := observe.NewRecorder()
	lim := limit.NewTokenBucket(1, 1, limit.WithMetrics(rec), limit.WithName("api"))
	lim.Allow()
	lim.Allow()
	_ = lim.Admit(context.Background(), 0)
	name := observe.L("name", "api")
	assert.EqualValues(t, 1, rec.Count("ion_limit_requests_total", name, observe.L("result", "allowed")))
	assert.EqualValues(t, 2, rec.Count("ion_limit_requests_total", name, observe.L("result", "limited")))
}

// TestTimeTravel uses explicit times that jump back and forth by far more
// than the engine's fixed-point window (about 2 ms at 1e12/s): going back
// mints nothing, and coming back finds the state it left.
func TestTimeTravel(t *testing.T) {
	lim := limit.NewTokenBucket(1e12, 1000)
	runSteps(t, lim, []step{
		{time.Hour, 1000, true},
		{0, 1, false},          // an hour earlier: no tokens
		{-time.Hour, 1, false}, // and earlier still
		{time.Hour, 1, false},  // back at the last time: still empty
		{time.Hour + time.Nanosecond, 1000, true},
	})
	slow := limit.NewTokenBucket(limit.PerHour(1), 2)
	runSteps(t, slow, []step{
		{0, 2, true},
		{-100 * 365 * 24 * time.Hour, 1, false},
		{0, 1, false},
		{time.Hour, 1, true},
		{time.Hour, 1, false},
	})
}

func TestCancelAfterLimitChange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(1, 1)
		require.True(t, lim.Allow())
		r := lim.ReserveN(time.Now(), 1)
		require.Equal(t, time.Second, r.Delay())
		require.NoError(t, lim.SetRate(2))
		r.Cancel()
		next := lim.ReserveN(time.Now(), 1)
		assert.Equal(t, 500*time.Millisecond, next.Delay(), "the refund is made at the new rate")
	})
}

func TestHugeTemporaryLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		lim := limit.NewTokenBucket(10, 10)
		require.NoError(t, lim.SetTemporaryLimit(1, 1, time.Duration(math.MaxInt64)))
		time.Sleep(1000 * time.Hour)
		assert.Equal(t, limit.Rate(1), lim.Rate(), "a temporary limit of the longest duration does not overflow")
	})
}

// TestConcurrentLimitChanges hammers Allow while the limits are re-set (to
// the same values) concurrently: every change seals an epoch and publishes a
// new one, and no Allow may apply one epoch's parameters to another's state.
func TestConcurrentLimitChanges(t *testing.T) {
	lim := limit.NewTokenBucket(limit.PerHour(1), 50)
	var admitted atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_ = lim.SetRate(limit.PerHour(1))
				_ = lim.SetBurst(50)
			}
		}
	})
	var users sync.WaitGroup
	for range 8 {
		users.Go(func() {
			for range 200 {
				if lim.Allow() {
					admitted.Add(1)
				}
			}
		})
	}
	users.Wait()
	close(stop)
	wg.Wait()
	assert.LessOrEqual(t, admitted.Load(), int64(50), "never more than the burst, whatever the epoch switches")
	assert.GreaterOrEqual(t, admitted.Load(), int64(49), "conversions round down by less than a token")
}

func TestLimitedErrorUnwrap(t *testing.T) {
	err := &limit.LimitedError{Delay: time.Second, Tier: "user"}
	assert.Equal(t, limit.ErrLimited, errors.Unwrap(err))
	assert.Equal(t, "limit: rate limited by the user tier, retry after 1s", err.Error())
}

// TestCancelAfterSlowerSetRate guards refunds across a rate change: with no
// reservation after it, a cancelled reservation gives back all its tokens,
// even after SetRate lowered the rate (it gave back 0.005 of 5 tokens,
// measuring the refund in time at the new rate).
func TestCancelAfterSlowerSetRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(1000, 10)
		for range 10 {
			tb.Allow()
		}
		res := tb.ReserveN(time.Now(), 5) // tokens: -5
		require.NoError(t, tb.SetRate(1))
		res.Cancel()
		assert.InDelta(t, 0, tb.Tokens(), 0.001, "tokens after cancelling the only reservation")
	})
}

// TestWaitCancelAfterTemporaryLimit is the realistic form: a waiter that
// gives up after a 429 was answered with SetTemporaryLimit must give its
// tokens back, or the next Wait pays for them (10.9 s instead of 1 s).
func TestWaitCancelAfterTemporaryLimit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tb := limit.NewTokenBucket(100, 10)
		for range 10 {
			tb.Allow()
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- tb.WaitN(ctx, 10) }() // admitted at +100ms
		synctest.Wait()
		require.NoError(t, tb.SetTemporaryLimit(1, 10, time.Hour))
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		start := time.Now()
		require.NoError(t, tb.Wait(context.Background()))
		assert.Equal(t, time.Second, time.Since(start), "the next Wait waits for one token at 1/s")
	})
}

// TestCancelAcrossRateChangeKeepsLaterReservations checks the other side
// of a refund measured in tokens: the tokens later reservations count on
// are not given back, with or without a rate change in between.
func TestCancelAcrossRateChangeKeepsLaterReservations(t *testing.T) {
	for _, change := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			tb := limit.NewTokenBucket(1000, 10)
			require.True(t, tb.AllowN(time.Now(), 10))
			first := tb.ReserveN(time.Now(), 5)  // tokens -5
			second := tb.ReserveN(time.Now(), 3) // tokens -8: counts on 3 of first's tokens
			require.True(t, first.OK() && second.OK())
			if change {
				require.NoError(t, tb.SetRate(1))
			}
			first.Cancel()
			assert.InDelta(t, -6, tb.Tokens(), 0.001, "change %v: first gives back the 2 tokens second does not count on", change)
			second.Cancel()
			assert.InDelta(t, -3, tb.Tokens(), 0.001, "change %v: second gives back its 3", change)
		})
	}
}
