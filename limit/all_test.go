package limit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
)

// TestAllAllowNIsAllOrNothing: a request refused by one member consumes
// nothing at any member.
func TestAllAllowNIsAllOrNothing(t *testing.T) {
	perSecond := limit.NewTokenBucket(10, 10)
	perHour := limit.NewTokenBucket(limit.PerHour(3), 3)
	both := limit.All(perSecond, perHour)
	require.NoError(t, both.Err())
	runSteps(t, both, []step{
		{0, 2, true},  // 8 and 1 left
		{0, 2, false}, // the hourly member refuses: nothing is taken from either
		{0, 1, true},  // 7 and 0 left
		{0, 1, false},
		{time.Second, 1, false}, // the second refilled, the hour did not
		{20 * time.Minute, 1, true},
	})
	assert.Equal(t, []float64{9, 0}, both.TokensAt(t0.Add(20*time.Minute)), "per-member tokens")
	assert.False(t, both.AllowN(t0, 11), "n above a member's burst")
	assert.False(t, both.AllowN(t0, -1))
	assert.True(t, both.AllowN(t0, 0))
}

// TestAllWaitNWaitsTheMaxAndRefundsAllOnCancel: WaitN waits for the slowest
// member, charges every member as of that time, and gives every token back
// if its ctx ends first.
func TestAllWaitNWaitsTheMaxAndRefundsAllOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fast := limit.NewTokenBucket(10, 1) // a token every 100ms
		slow := limit.NewTokenBucket(1, 1)  // a token every second
		both := limit.All(fast, slow)
		require.True(t, both.Allow())
		start := time.Now()
		require.NoError(t, both.Wait(context.Background()))
		assert.Equal(t, time.Second, time.Since(start), "the wait is the slowest member's")
		assert.InDelta(t, 0, fast.Tokens(), 1e-9, "fast was charged as of the time the request ran")

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- both.Wait(ctx) }()
		synctest.Wait()
		assert.Less(t, fast.Tokens(), 0.0, "the waiter holds fast's token")
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.InDelta(t, 0, fast.Tokens(), 1e-9, "fast was refunded")
		assert.InDelta(t, 0, slow.Tokens(), 1e-9, "slow was refunded")

		// A wait that cannot fit the deadline fails at once, takes nothing.
		ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		require.ErrorIs(t, both.Wait(ctx), limit.ErrLimited)
		assert.InDelta(t, 0, fast.Tokens(), 1e-9)
	})
}

// TestAllReserveNCancelRefundsEach: one reservation over every member; its
// Cancel refunds each member exactly as the member's own reservation would.
func TestAllReserveNCancelRefundsEach(t *testing.T) {
	a := limit.NewTokenBucket(10, 5)
	b := limit.NewLeakyBucket(1, 5)
	both := limit.All(a, b)
	require.True(t, both.AllowN(t0, 5))
	r := both.ReserveN(t0, 2)
	require.True(t, r.OK())
	assert.Equal(t, 2*time.Second, r.DelayFrom(t0), "the slowest member's delay")
	assert.Equal(t, []float64{3, 0}, both.TokensAt(t0.Add(2*time.Second)),
		"both charged as of the slot: a refilled to 5 by then, less 2; b refilled 2, less 2")
	r.CancelAt(t0)
	assert.Equal(t, []float64{5, 2}, both.TokensAt(t0.Add(2*time.Second)), "each member refunded")
	assert.False(t, both.ReserveN(t0, 6).OK(), "n above a member's burst")
}

// TestAllWithKeyed: per-key limits over several windows, through Key and
// through By with Policy.
func TestAllWithKeyed(t *testing.T) {
	perSecond := limit.NewKeyed[string](10, 2)
	perHour := limit.NewKeyed[string](limit.PerHour(3), 3)
	alice := limit.All(perSecond.Key("alice"), perHour.Key("alice"))
	runSteps(t, alice, []step{{0, 1, true}, {0, 1, true}, {0, 1, false}, {time.Second, 1, true}, {2 * time.Second, 1, false}})
	assert.True(t, limit.All(perSecond.Key("bob"), perHour.Key("bob")).AllowN(t0, 2), "keys are separate")

	type userKey struct{}
	user := func(ctx context.Context) string { return ctx.Value(userKey{}).(string) }
	p := limit.Policy[int](limit.All(perSecond.By(user), perHour.By(user)))
	ctx := context.WithValue(context.Background(), userKey{}, "carol")
	ok := 0
	for range 5 {
		if _, err := policy.Run(ctx, p, func(context.Context) (int, error) { return 1, nil }); err == nil {
			ok++
		}
	}
	assert.Equal(t, 2, ok, "carol's per-second burst")
}

// TestAllNests: an AllOf is a member of another.
func TestAllNests(t *testing.T) {
	a, b, c := limit.NewTokenBucket(1, 3), limit.NewTokenBucket(1, 2), limit.NewTokenBucket(1, 1)
	outer := limit.All(limit.All(a, b), c)
	runSteps(t, outer, []step{{0, 1, true}, {0, 1, false}})
	assert.Equal(t, []float64{1, 0}, outer.TokensAt(t0), "an inner AllOf reports its smallest member")
	r := outer.ReserveN(t0, 1)
	require.True(t, r.OK())
	r.CancelAt(t0)
	assert.InDelta(t, 2, a.TokensAt(t0), 1e-9, "the inner members were refunded")
}

// TestAllBadConfigFailsClosed: no member, a nil member or a member that
// failed closed make the whole limiter fail closed.
func TestAllBadConfigFailsClosed(t *testing.T) {
	var nilBucket *limit.TokenBucket
	for name, a := range map[string]*limit.AllOf{
		"none":   limit.All(),
		"nil":    limit.All(limit.NewTokenBucket(1, 1), nil),
		"typed":  limit.All(nilBucket),
		"failed": limit.All(limit.NewTokenBucket(-1, 1)),
		"key":    limit.All(limit.NewKeyed[int](1, 1).By(nil)),
	} {
		requireConfigError(t, a.Err(), "")
		assert.False(t, a.Allow(), name)
		assert.Error(t, a.Wait(context.Background()), name)
	}
}

// TestAllAllowNDoesNotAllocate guards the hot path of a few buckets.
func TestAllAllowNDoesNotAllocate(t *testing.T) {
	both := limit.All(limit.NewTokenBucket(limit.Inf, 0), limit.NewTokenBucket(1e9, 1e9))
	now := time.Now()
	assert.Zero(t, testing.AllocsPerRun(1000, func() { both.AllowN(now, 1) }))
	assert.Zero(t, testing.AllocsPerRun(1000, func() { _ = both.Admit(context.Background(), 0) }))
}

// TestAllStressNeverOverAdmits hammers an AllOf whose members are also
// charged directly: no member ever admits more than its burst (nothing
// refills during the run), and every AllOf admission charged both.
func TestAllStressNeverOverAdmits(t *testing.T) {
	a, b := limit.NewTokenBucket(limit.PerHour(1), 50), limit.NewTokenBucket(limit.PerHour(1), 80)
	both := limit.All(a, b)
	var viaAll, viaA, viaB atomic.Int32
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				switch (g + i) % 4 {
				case 0:
					if a.Allow() {
						viaA.Add(1)
					}
				case 1:
					if b.Allow() {
						viaB.Add(1)
					}
				default:
					if both.Allow() {
						viaAll.Add(1)
					}
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, viaAll.Load()+viaA.Load(), int32(50), "a's burst")
	assert.LessOrEqual(t, viaAll.Load()+viaB.Load(), int32(80), "b's burst")
	assert.InDelta(t, 50-float64(viaAll.Load()+viaA.Load()), a.Tokens(), 0.01, "a's tokens account for every admission")
	assert.InDelta(t, 80-float64(viaAll.Load()+viaB.Load()), b.Tokens(), 0.01, "b's tokens account for every admission")
}

// TestAllWaitPastRepresentableTime guards against an endless loop: a
// reservation whose slot saturates at the end of representable time (146
// years from the process start; here one token in 31 years, asked for at
// 140 years) must end, not OK, rather than retry that slot forever.
func TestAllWaitPastRepresentableTime(t *testing.T) {
	slow := limit.NewTokenBucket(1e-9, 1)
	both := limit.All(slow)
	late := time.Now().Add(140 * 365 * 24 * time.Hour)
	require.True(t, both.AllowN(late, 1))
	assert.False(t, both.ReserveN(late, 1).OK(), "no slot before the end of representable time")
	assert.InDelta(t, 0, slow.TokensAt(late), 1e-6, "the refused reservation took nothing")
}

// TestAllRefusalPastRepresentableTimeChangesNothing guards the property
// that a refused request changes nothing: a reservation needing a slot past
// the end of representable time (177 years for 14 tokens here) used to
// charge the bucket there, to fail, which moved its window and let it admit
// more at earlier times than an untouched twin.
func TestAllRefusalPastRepresentableTimeChangesNothing(t *testing.T) {
	past := time.Now().Add(-10 * 365 * 24 * time.Hour) // the slot, 167 years on, is out of range
	subject, twin := limit.NewTokenBucket(2.5e-9, 90), limit.NewTokenBucket(2.5e-9, 90)
	require.True(t, subject.AllowN(past, 90))
	require.True(t, twin.AllowN(past, 90))
	assert.False(t, limit.All(subject).ReserveN(past, 14).OK())
	later := past.Add(time.Hour)
	assert.InDelta(t, twin.TokensAt(later), subject.TokensAt(later), 1e-9, "the refused reservation changed the bucket")
	assert.Equal(t, twin.AllowN(later, 1), subject.AllowN(later, 1))
}

// TestAllRefusedWaitRefundsTheSkippedRefill guards the refund of a charge
// made at a later slot: it also spent the refill between now and the slot,
// which must go back even when another request touched the bucket in
// between (the gateway's refused waits left a global bucket 400 tokens in
// debt as seen from now).
func TestAllRefusedWaitRefundsTheSkippedRefill(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		global := limit.NewTokenBucket(100, 100)
		route := limit.NewTokenBucket(0.2, 1)
		both := limit.All(global, route)
		now := time.Now()
		require.True(t, both.AllowN(now, 1)) // the route is empty for 5 s
		r := both.ReserveN(now, 1)           // both charged as of now+5s
		require.True(t, r.OK())
		assert.Equal(t, 5*time.Second, r.DelayFrom(now))
		assert.Less(t, global.TokensAt(now), -390.0, "as seen from now, the charge at now+5s spent 5 s of refill")
		require.NoError(t, global.SetRate(100), "something else changes the global bucket in between")
		r.CancelAt(now)
		assert.InDelta(t, 99, global.TokensAt(now), 1e-6, "the global bucket got back its token and the refill the charge skipped")
		assert.InDelta(t, 0, route.TokensAt(now), 1e-6)
	})
}
