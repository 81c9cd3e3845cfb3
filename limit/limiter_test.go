package limit_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// requireZeroValue checks the error of a zero value: it matches
// ErrInvalidConfig, names the type and says which constructor to use.
func requireZeroValue(t *testing.T, err error, typ, ctor string) {
	t.Helper()
	requireConfigError(t, err, typ)
	assert.Contains(t, err.Error(), "use "+ctor, "the error must say which constructor to use")
}

// TestZeroValues covers the zero value of every exported type of the
// package: a limiter's zero value fails closed (every call refuses, every
// error matches ion.ErrInvalidConfig and says which constructor to use, no
// call panics or blocks); the value types work as documented.
func TestZeroValues(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"TokenBucket", func(t *testing.T) {
			var lim limit.TokenBucket
			requireZeroValue(t, lim.Err(), "TokenBucket", "NewTokenBucket")
			assert.False(t, lim.Allow())
			assert.False(t, lim.AllowN(now, 1))
			requireZeroValue(t, lim.Wait(ctx), "TokenBucket", "NewTokenBucket")
			requireZeroValue(t, lim.Admit(ctx, time.Second), "TokenBucket", "NewTokenBucket")
			assert.False(t, lim.ReserveN(now, 1).OK())
			requireZeroValue(t, lim.SetRate(1), "TokenBucket", "NewTokenBucket")
			requireZeroValue(t, lim.SetBurst(1), "TokenBucket", "NewTokenBucket")
			requireZeroValue(t, lim.SetTemporaryLimit(1, 1, time.Second), "TokenBucket", "NewTokenBucket")
			lim.ClearTemporaryLimit()
			lim.DrainTo(0)
			assert.Zero(t, lim.Tokens())
			assert.Zero(t, lim.TokensAt(now))
			assert.Zero(t, lim.Rate())
			assert.Zero(t, lim.Burst())
			assert.Contains(t, lim.String(), "invalid")
			_, err := policy.Run(ctx, limit.Policy[int](&lim), func(context.Context) (int, error) { return 1, nil })
			requireZeroValue(t, err, "TokenBucket", "NewTokenBucket")
		}},
		{"LeakyBucket", func(t *testing.T) {
			var lim limit.LeakyBucket
			requireZeroValue(t, lim.Err(), "LeakyBucket", "NewLeakyBucket")
			assert.False(t, lim.Allow())
			assert.False(t, lim.AllowN(now, 1))
			requireZeroValue(t, lim.WaitN(ctx, 1), "LeakyBucket", "NewLeakyBucket")
			requireZeroValue(t, lim.Admit(ctx, 0), "LeakyBucket", "NewLeakyBucket")
			assert.False(t, lim.ReserveN(now, 1).OK())
			requireZeroValue(t, lim.SetRate(1), "LeakyBucket", "NewLeakyBucket")
			requireZeroValue(t, lim.SetCapacity(1), "LeakyBucket", "NewLeakyBucket")
			requireZeroValue(t, lim.SetTemporaryLimit(1, 1, time.Second), "LeakyBucket", "NewLeakyBucket")
			lim.ClearTemporaryLimit()
			assert.Zero(t, lim.Level())
			assert.Zero(t, lim.LevelAt(now))
			assert.Zero(t, lim.TokensAt(now))
			assert.Zero(t, lim.Available())
			assert.Zero(t, lim.Capacity())
			assert.Contains(t, lim.String(), "invalid")
		}},
		{"Keyed", func(t *testing.T) {
			var lim limit.Keyed[string]
			requireZeroValue(t, lim.Err(), "Keyed", "NewKeyed")
			assert.False(t, lim.Allow("a"))
			assert.False(t, lim.AllowN(now, "a", 1))
			requireZeroValue(t, lim.Wait(ctx, "a"), "Keyed", "NewKeyed")
			assert.False(t, lim.ReserveN(now, "a", 1).OK())
			assert.Zero(t, lim.Tokens("a"))
			assert.Zero(t, lim.TokensAt(now, "a"))
			assert.Zero(t, lim.Len())
			requireZeroValue(t, lim.By(func(context.Context) string { return "a" }).Admit(ctx, 0), "Keyed", "NewKeyed")
			requireZeroValue(t, lim.Key("a").Admit(ctx, 0), "Keyed", "NewKeyed")
			requireZeroValue(t, limit.All(lim.Key("a")).Err(), "Keyed", "NewKeyed")
			assert.Contains(t, lim.String(), "invalid")
		}},
		{"AllOf", func(t *testing.T) {
			var a limit.AllOf
			requireZeroValue(t, a.Err(), "AllOf", "All")
			assert.False(t, a.Allow())
			assert.False(t, a.AllowN(now, 1))
			requireZeroValue(t, a.WaitN(ctx, 1), "AllOf", "All")
			requireZeroValue(t, a.Admit(ctx, 0), "AllOf", "All")
			assert.False(t, a.ReserveN(now, 1).OK())
			assert.Nil(t, a.TokensAt(now))
			requireZeroValue(t, limit.All(&a).Err(), "AllOf", "All")
			assert.Contains(t, a.String(), "invalid")
		}},
		{"Reservation", func(t *testing.T) {
			var r limit.Reservation // a reservation of nothing that was not granted
			assert.False(t, r.OK())
			assert.Equal(t, time.Duration(1<<63-1), r.Delay())
			r.Cancel()
			r.CancelAt(now)
		}},
		{"LimitedError", func(t *testing.T) {
			var e limit.LimitedError
			assert.ErrorIs(t, &e, limit.ErrLimited)
			assert.ErrorIs(t, &e, ion.ErrRejected)
			d, ok := ion.RetryAfter(&e)
			assert.True(t, ok)
			assert.Zero(t, d)
			assert.Equal(t, "limit: rate limited, retry after 0s", e.Error())
		}},
		{"Rate", func(t *testing.T) {
			var r limit.Rate // admits nothing beyond the burst
			assert.Equal(t, "0/s", r.String())
			lim := limit.NewTokenBucket(r, 1)
			assert.True(t, lim.AllowN(now, 1))
			assert.False(t, lim.AllowN(now.Add(time.Hour), 1))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
}

// TestTokensAtIsPure reads buckets at explicit instants: refill is linear
// and capped at the burst, a refused wait took nothing, and reading changes
// nothing (the same instant reads the same, in any order).
func TestTokensAtIsPure(t *testing.T) {
	tb := limit.NewTokenBucket(10, 5)
	lb := limit.NewLeakyBucket(10, 5)
	require.True(t, tb.AllowN(t0, 5))
	require.True(t, lb.AllowN(t0, 5))
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 0},
		{100 * time.Millisecond, 1},
		{250 * time.Millisecond, 2.5},
		{500 * time.Millisecond, 5},
		{time.Hour, 5}, // capped at the burst
		{250 * time.Millisecond, 2.5},
	} {
		assert.InDelta(t, tc.want, tb.TokensAt(t0.Add(tc.at)), 1e-9, "TokenBucket.TokensAt(t0+%v)", tc.at)
		assert.InDelta(t, tc.want, lb.TokensAt(t0.Add(tc.at)), 1e-9, "LeakyBucket.TokensAt(t0+%v)", tc.at)
		assert.InDelta(t, 5-tc.want, lb.LevelAt(t0.Add(tc.at)), 1e-9, "LeakyBucket.LevelAt(t0+%v)", tc.at)
	}
	// A wait that cannot fit its deadline is refused and takes nothing.
	lim := limit.NewTokenBucket(1, 1)
	require.True(t, lim.Allow())
	before := lim.TokensAt(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	require.ErrorIs(t, lim.Wait(ctx), limit.ErrLimited)
	assert.LessOrEqual(t, lim.TokensAt(time.Now()), before+0.01, "a refused Wait took nothing")
	assert.Greater(t, lim.TokensAt(time.Now()), -0.5, "a refused Wait took nothing")
}

// TestLimitedErrorText keeps the zero value's text in the table above
// honest against the documented format.
func TestLimitedErrorText(t *testing.T) {
	e := &limit.LimitedError{Delay: 1500 * time.Millisecond, Tier: "route"}
	assert.True(t, strings.HasPrefix(e.Error(), "limit: rate limited by the route tier"))
	assert.True(t, errors.Is(e, ion.ErrRejected))
}
