package httplimit_test

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
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/observe"
	"github.com/ionkit/ion/policy"
)

func get(path string) httplimit.Request { return httplimit.Request{Method: "GET", Path: path} }

func TestMultiTierRouteKey(t *testing.T) {
	m := httplimit.New(
		httplimit.WithRoute("GET /api/v1/users/{id}", 5, 5),
		httplimit.WithRoute("/api/{version}/users/{id}/posts", 5, 5),
		httplimit.WithRoute("/api/v2/users/{id}/posts", 5, 5),
		httplimit.WithRoute("post /channels/{channel}/messages/{message}", 5, 5),
		httplimit.WithRoute("/guilds/{guild}/members/{member}", 5, 5),
		httplimit.WithMajorParams("channel", "guild", "member"),
	)
	require.NoError(t, m.Err())
	tests := []struct {
		name string
		req  httplimit.Request
		want string
	}{
		{"pattern with v1 literal matches", get("/api/v1/users/42"), "GET /api/v1/users/{id}"},
		{"method must match", httplimit.Request{Method: "DELETE", Path: "/api/v1/users/42"}, "DELETE /api/v1/users/{id}"},
		{"any-method pattern", httplimit.Request{Method: "PUT", Path: "/api/v3/users/7/posts"}, "/api/{version}/users/{id}/posts"},
		{"most literal pattern wins", get("/api/v2/users/7/posts"), "/api/v2/users/{id}/posts"},
		{"method case-insensitive, major param in key", httplimit.Request{Method: "Post", Path: "/channels/123/messages/9"}, "POST /channels/{channel}/messages/{message} channel=123"},
		{"major params in segment order", get("/guilds/1/members/2"), "/guilds/{guild}/members/{member} guild=1 member=2"},
		{"no pattern: digits become {id}", get("/api/v1/orders/991"), "GET /api/v1/orders/{id}"},
		{"no pattern: v1 is not an id", get("/v1/status"), "GET /v1/status"},
		{"no pattern: 2fa is not an id", get("/users/2fa"), "GET /users/2fa"},
		{"no pattern: UUID", get("/files/123e4567-e89b-12d3-a456-426614174000"), "GET /files/{id}"},
		{"no pattern: long hex", get("/objects/507f1f77bcf86cd799439011"), "GET /objects/{id}"},
		{"no pattern: short hex is a word", get("/objects/beef"), "GET /objects/beef"},
		{"slashes, query and fragment ignored", get("//api//v1/orders/991/?page=2#top"), "GET /api/v1/orders/{id}"},
		{"empty method", httplimit.Request{Path: "/a/1"}, "* /a/{id}"},
		{"root", get(""), "GET /"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, m.RouteKey(tc.req))
			assert.Equal(t, tc.want, m.RouteKey(tc.req), "keys are deterministic")
		})
	}
}

// TestSeedMultiTierV1PatternNeverMatched guards against the seed's
// normalisation, which turned /api/v1/... into /api/v{id}/..., so that the
// README's own pattern "GET:/api/v1/users/{id}" never matched.
func TestSeedMultiTierV1PatternNeverMatched(t *testing.T) {
	m := httplimit.New(httplimit.WithRoute("GET /api/v1/users/{id}", limit.PerHour(2), 2))
	admitted := 0
	for range 10 {
		if m.AllowN(t0, get("/api/v1/users/42"), 1) {
			admitted++
		}
	}
	assert.Equal(t, 2, admitted, "the v1 route's own limit applies")
}

// TestSeedMultiTierNondeterministicKeys guards against the seed's route
// keys, which hashed a map of major parameters in iteration order.
func TestSeedMultiTierNondeterministicKeys(t *testing.T) {
	m := httplimit.New(httplimit.WithRoute("/a/{x}/b/{y}/c/{z}", 1, 1), httplimit.WithMajorParams("z", "x", "y"))
	want := m.RouteKey(get("/a/1/b/2/c/3"))
	assert.Equal(t, "/a/{x}/b/{y}/c/{z} x=1 y=2 z=3", want)
	for range 100 {
		require.Equal(t, want, m.RouteKey(get("/a/1/b/2/c/3")))
	}
}

func TestMultiTierBadPatterns(t *testing.T) {
	for _, p := range []string{"api/users", "GET api", "G3T /x", "/a/{b", "/a/{}", "/a/b}c", "/a/{b{c}}"} {
		m := httplimit.New(httplimit.WithRoute(p, 1, 1))
		requireConfigError(t, m.Err(), "WithRoute("+p+")")
		assert.False(t, m.Allow(get("/")), "fails closed")
		assert.ErrorIs(t, m.Wait(context.Background(), get("/")), ion.ErrInvalidConfig)
		assert.ErrorIs(t, m.UpdateFromHeader(get("/"), nil), ion.ErrInvalidConfig)
		assert.Contains(t, m.String(), "invalid")
	}
}

// TestSeedMultiTierNonAtomicCharging guards against the seed's multi-tier
// AllowN, which charged the global tier before asking the route tier and
// never refunded it: a request denied by any tier must consume nothing.
func TestSeedMultiTierNonAtomicCharging(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.PerHour(3), 3),
		httplimit.WithTier(httplimit.Route, limit.PerHour(1), 1),
		httplimit.WithTier(httplimit.User, limit.PerHour(1), 1),
	)
	require.True(t, m.AllowN(t0, get("/a"), 1))
	for range 5 {
		require.False(t, m.AllowN(t0, get("/a"), 1), "denied by the route tier")
	}
	require.True(t, m.AllowN(t0, httplimit.Request{Method: "GET", Path: "/b", UserID: "u"}, 1))
	require.False(t, m.AllowN(t0, httplimit.Request{Method: "GET", Path: "/c", UserID: "u"}, 1), "denied by the user tier")
	require.True(t, m.AllowN(t0, get("/c"), 1), "the denials refunded global and /c's route bucket")
	require.False(t, m.AllowN(t0, get("/d"), 1), "global is now drained: 3 admitted in all")

	st := m.Stats()
	assert.EqualValues(t, 3, st.Allowed)
	assert.EqualValues(t, 7, st.Limited)
	assert.EqualValues(t, 5, st.LimitedBy[httplimit.Route])
	assert.EqualValues(t, 1, st.LimitedBy[httplimit.User])
	assert.EqualValues(t, 1, st.LimitedBy[httplimit.Global])
}

// TestSeedMultiTierTiersDoNotStack guards against the seed's resource tier,
// which used only one of ResourceID, SubResourceID and UserID: the tiers
// stack.
func TestSeedMultiTierTiersDoNotStack(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Route, limit.Inf, 0),
		httplimit.WithTier(httplimit.Resource, limit.PerHour(2), 2),
		httplimit.WithTier(httplimit.SubResource, limit.PerHour(1), 1),
		httplimit.WithTier(httplimit.User, limit.PerHour(1), 1),
	)
	req := httplimit.Request{Path: "/x", ResourceID: "g1", SubResourceID: "c1", UserID: "u1"}
	require.True(t, m.AllowN(t0, req, 1))
	req.UserID = "u2"
	require.False(t, m.AllowN(t0, req, 1), "the sub-resource c1 is drained, whatever the user")
	req.SubResourceID = "c2"
	require.True(t, m.AllowN(t0, req, 1), "another sub-resource of g1, another user")
	req.SubResourceID, req.UserID = "c3", "u3"
	require.False(t, m.AllowN(t0, req, 1), "resource g1 is drained (2 in all)")
	assert.EqualValues(t, 1, m.Stats().LimitedBy[httplimit.Resource])
	assert.EqualValues(t, 1, m.Stats().LimitedBy[httplimit.SubResource])
	require.True(t, m.AllowN(t0, httplimit.Request{Path: "/x", SubResourceID: "c1"}, 1), "no sub-resource tier without a resource")
}

func TestMultiTierPerCallInput(t *testing.T) {
	m := httplimit.New(httplimit.WithTier(httplimit.Global, 1, 2))
	assert.True(t, m.AllowN(t0, get("/"), 0))
	assert.False(t, m.AllowN(t0, get("/"), -1))
	assert.False(t, m.AllowN(t0, get("/"), 3), "n above the global burst")
	assert.ErrorIs(t, m.WaitN(context.Background(), get("/"), 3), limit.ErrExceedsBurst)
	assert.ErrorIs(t, m.WaitN(context.Background(), get("/"), -1), limit.ErrNegativeN)
	assert.NoError(t, m.WaitN(context.Background(), get("/"), 0))
	var nilCtx context.Context
	assert.ErrorIs(t, m.Wait(nilCtx, get("/")), ion.ErrInvalidConfig)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, m.Wait(ctx, get("/")), context.Canceled)
	assert.True(t, m.AllowN(t0, get("/"), 2), "nothing above changed the state")
}

func TestMultiTierWaitLargestDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, 10, 1),
			httplimit.WithTier(httplimit.Route, 2, 1),
		)
		start := time.Now()
		require.NoError(t, m.Wait(t.Context(), get("/a")))
		require.NoError(t, m.Wait(t.Context(), get("/a")))
		assert.Equal(t, 500*time.Millisecond, time.Since(start), "the route's 500 ms, the largest delay")
		require.NoError(t, m.Wait(t.Context(), get("/b")))
		assert.Equal(t, 600*time.Millisecond, time.Since(start), "then global's next slot")

		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err := m.Wait(ctx, get("/a"))
		require.ErrorIs(t, err, limit.ErrLimited)
		var le *limit.LimitedError
		require.True(t, errors.As(err, &le))
		assert.Equal(t, "route", le.Tier)
		assert.Equal(t, 400*time.Millisecond, le.Delay)
		assert.Equal(t, 600*time.Millisecond, time.Since(start), "failed at once")
		require.NoError(t, m.Wait(t.Context(), get("/c")))
		assert.Equal(t, 700*time.Millisecond, time.Since(start), "the failed wait consumed nothing at the global tier")
	})
}

func TestMultiTierWaitCancelledRefundsEveryTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, 1, 1),
			httplimit.WithTier(httplimit.Route, 1, 1),
			httplimit.WithTier(httplimit.User, 1, 1),
		)
		req := httplimit.Request{Path: "/a", UserID: "u"}
		require.True(t, m.Allow(req))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- m.Wait(ctx, req) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		assert.EqualValues(t, 1, m.Stats().Cancelled)

		start := time.Now()
		require.NoError(t, m.Wait(t.Context(), req))
		assert.Equal(t, 900*time.Millisecond, time.Since(start), "every tier was refunded: served at 1 s, not 2 s")
	})
}

func TestMultiTierPause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New()
		assert.False(t, m.IsPaused())
		assert.True(t, m.PausedUntil().IsZero())
		start := time.Now()
		m.PauseFor(time.Second)
		assert.True(t, m.IsPaused())
		assert.Equal(t, start.Add(time.Second), m.PausedUntil())
		assert.False(t, m.Allow(get("/a")), "a paused limiter refuses")
		assert.True(t, m.Stats().Paused)

		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		err := m.Wait(ctx, get("/a"))
		cancel()
		var le *limit.LimitedError
		require.True(t, errors.As(err, &le), "a wait that cannot outlast the pause fails at once")
		assert.Equal(t, "global", le.Tier)
		assert.Equal(t, time.Second, le.Delay)

		require.NoError(t, m.Wait(t.Context(), get("/a")), "Wait waits out the pause")
		assert.Equal(t, time.Second, time.Since(start))
		assert.False(t, m.IsPaused(), "the pause ends by itself, without a timer")
		assert.True(t, m.Allow(get("/b")))

		m.PauseFor(time.Hour)
		m.Resume()
		assert.False(t, m.IsPaused())
		m.PauseFor(time.Hour)
		m.Pause(time.Now().Add(-time.Second))
		assert.False(t, m.IsPaused(), "a pause in the past ends the pause")
		m.PauseFor(time.Hour)
		m.PauseFor(time.Minute)
		assert.Equal(t, time.Now().Add(time.Minute), m.PausedUntil(), "a later Pause replaces the earlier one")
	})
}

func TestMultiTierStatsTrueAverages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(httplimit.WithTier(httplimit.Global, 10, 1), httplimit.WithTier(httplimit.Route, limit.Inf, 0))
		for range 4 {
			require.NoError(t, m.Wait(t.Context(), get("/a"))) // waits 0, 100, 100, 100 ms
		}
		var wg sync.WaitGroup
		for range 2 { // waits 100 and 200 ms
			wg.Go(func() { require.NoError(t, m.Wait(t.Context(), get("/a"))) })
		}
		wg.Wait()
		st := m.Stats()
		assert.EqualValues(t, 6, st.Waits)
		assert.Equal(t, 600*time.Millisecond, st.TotalWait)
		assert.Equal(t, 100*time.Millisecond, st.AvgWait, "the true mean, not an EMA")
		assert.Equal(t, 200*time.Millisecond, st.MaxWait)
		assert.EqualValues(t, 6, st.Requests)
		assert.EqualValues(t, 6, st.Allowed)

		m.Reset()
		st = m.Stats()
		assert.Zero(t, st.Waits)
		assert.Zero(t, st.AvgWait)
		assert.True(t, m.Allow(get("/a")), "Reset refills the buckets")
	})
}

func TestMultiTierReset(t *testing.T) {
	m := httplimit.New(httplimit.WithTier(httplimit.Global, limit.PerHour(1), 1), httplimit.WithTier(httplimit.User, 1, 1))
	require.True(t, m.Allow(httplimit.Request{Path: "/a", UserID: "u"}))
	require.False(t, m.Allow(get("/b")))
	m.PauseFor(time.Hour)
	assert.Equal(t, 1, m.Stats().Keys[httplimit.User])
	m.Reset()
	assert.False(t, m.IsPaused())
	assert.Equal(t, httplimit.Stats{}, m.Stats(), "every counter and bucket is reset")
	assert.True(t, m.Allow(httplimit.Request{Path: "/a", UserID: "u"}))
}

// TestMultiTierBoundedMemory feeds 100,000 distinct ids and routes: every
// keyed tier stays within WithMaxKeys.
func TestMultiTierBoundedMemory(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.Inf, 0),
		httplimit.WithTier(httplimit.User, 1, 1),
		httplimit.WithTier(httplimit.SubResource, 1, 1),
		httplimit.WithMaxKeys(500),
	)
	for i := range 100_000 {
		id := strconv.Itoa(i)
		m.AllowN(t0, httplimit.Request{Method: "GET", Path: "/x/k" + id, ResourceID: id, SubResourceID: id, UserID: id}, 1)
	}
	st := m.Stats()
	for _, s := range []httplimit.Scope{httplimit.Route, httplimit.Resource, httplimit.SubResource, httplimit.User} {
		assert.LessOrEqualf(t, st.Keys[s], 500, "the %v tier must stay bounded", s)
	}
	assert.EqualValues(t, 100_000, st.Allowed)
}

// TestMultiTierConcurrentInvariant races many goroutines over shared
// tiers: no tier ever admits more than its burst, and without contention
// below it the global tier admits exactly its burst.
func TestMultiTierConcurrentInvariant(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.PerHour(1), 50),
		httplimit.WithTier(httplimit.Route, limit.PerHour(1), 1000),
		httplimit.WithTier(httplimit.Resource, limit.PerHour(1), 3),
	)
	var admitted atomic.Int64
	perResource := make([]atomic.Int64, 10)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			r := i % 10
			req := httplimit.Request{Path: "/r/" + strconv.Itoa(i%7)}
			if i%2 == 0 {
				req.ResourceID = strconv.Itoa(r)
			}
			if m.AllowN(t0, req, 1) {
				admitted.Add(1)
				if req.ResourceID != "" {
					perResource[r].Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, admitted.Load(), int64(50), "the global tier never admits more than its burst")
	for r := range perResource {
		assert.LessOrEqual(t, perResource[r].Load(), int64(3), "resource %d admitted more than its burst", r)
	}
	// Refunds under contention may lose a token, never create one; with
	// the requests above there is enough demand to fill global anyway.
	assert.GreaterOrEqual(t, admitted.Load(), int64(45))
}

func TestMultiTierStringAndMetrics(t *testing.T) {
	rec := observe.NewRecorder()
	m := httplimit.New(httplimit.WithMetrics(rec), httplimit.WithName("gw"), httplimit.WithTier(httplimit.Route, limit.PerHour(1), 1))
	assert.Equal(t, "multi-tier(gw) global 100/s burst 100, route 0.0002777777777777778/s burst 1, resource 20/s burst 20", m.String())
	assert.Equal(t, "multi-tier global 100/s burst 100, route 50/s burst 50, resource 20/s burst 20", httplimit.New().String())
	m.Allow(get("/a"))
	m.Allow(get("/a"))
	m.PauseFor(time.Second)
	m.Allow(get("/b"))
	name := observe.L("name", "gw")
	assert.EqualValues(t, 1, rec.Count("ion_limit_requests_total", name, observe.L("result", "allowed")))
	assert.EqualValues(t, 2, rec.Count("ion_limit_requests_total", name, observe.L("result", "limited")))
	assert.EqualValues(t, 1, rec.Count("ion_limit_tier_limited_total", name, observe.L("tier", "route")))
	assert.EqualValues(t, 1, rec.Count("ion_limit_tier_limited_total", name, observe.L("tier", "global")))
	assert.EqualValues(t, 1, rec.Count("ion_limit_pauses_total", name))
	assert.EqualValues(t, 1, rec.Value("ion_limit_keys", name, observe.L("tier", "route")))
	assert.Equal(t, "Scope(9)", httplimit.Scope(9).String())
}

func TestMultiTierZeroRateTier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(httplimit.WithTier(httplimit.User, 0, 1))
		req := httplimit.Request{Path: "/a", UserID: "u"}
		require.True(t, m.Allow(req), "a zero-rate tier admits its burst once")
		m.PauseFor(time.Second)
		err := m.Wait(t.Context(), req)
		var le *limit.LimitedError
		require.True(t, errors.As(err, &le), "then never: a wait fails at once")
		assert.Equal(t, "user", le.Tier)
		assert.Equal(t, time.Duration(math.MaxInt64), le.Delay, "the wait saturates instead of overflowing")
	})
}

// TestMultiTierSweepRaceOverAdmits is TestKeyedSweepRaceOverAdmits
// through MultiTier's User tier, whose window was wider (every tier's
// bucket is found before any is charged).
func TestMultiTierSweepRaceOverAdmits(t *testing.T) {
	const rounds, users, callsPerUser = 1000, 4, 4
	for r := range rounds {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, limit.Inf, 0),
			httplimit.WithTier(httplimit.Route, limit.Inf, 0),
			httplimit.WithTier(httplimit.Resource, limit.Inf, 0),
			httplimit.WithTier(httplimit.User, limit.PerHour(1), 1))
		got := admissionsPerKey(users, callsPerUser, func(k int) bool {
			return m.Allow(httplimit.Request{Path: "/x", UserID: "u" + strconv.Itoa(k)})
		})
		for k, n := range got {
			require.EqualValues(t, 1, n, "round %d user %d: burst 1 at 1/h must admit exactly one call", r, k)
		}
	}
}

// TestMultiTierReserveNAndTokensAt: one reservation over every tier, whose
// Cancel refunds each, and per-tier token reads at an explicit time that
// create nothing.
func TestMultiTierReserveNAndTokensAt(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, 10, 10),
		httplimit.WithTier(httplimit.Route, 1, 3),
		httplimit.WithTier(httplimit.Resource, limit.Inf, 0),
		httplimit.WithTier(httplimit.User, 2, 2))
	req := httplimit.Request{Method: "GET", Path: "/a", UserID: "u"}
	inf := math.Inf(1)
	assert.Equal(t, [5]float64{10, 3, inf, inf, 2}, m.TokensAt(t0, req), "fresh tiers are full")
	assert.Zero(t, m.Stats().Keys[httplimit.User], "TokensAt creates no bucket")

	require.True(t, m.AllowN(t0, req, 2))
	r := m.ReserveN(t0, req, 2)
	require.True(t, r.OK())
	assert.Equal(t, time.Second, r.DelayFrom(t0), "the user tier needs 1 s for 2 more tokens")
	got := m.TokensAt(t0.Add(time.Second), req)
	assert.InDelta(t, 8, got[httplimit.Global], 1e-9, "global: refilled to 10 by the slot, then charged 2")
	assert.InDelta(t, 0, got[httplimit.Route], 1e-9)
	assert.InDelta(t, 0, got[httplimit.User], 1e-9)
	r.CancelAt(t0)
	got = m.TokensAt(t0.Add(time.Second), req)
	assert.InDelta(t, 10, got[httplimit.Global], 1e-9, "refunded")
	assert.InDelta(t, 2, got[httplimit.Route], 1e-9, "refunded")
	assert.InDelta(t, 2, got[httplimit.User], 1e-9, "refunded")
	assert.False(t, m.ReserveN(t0, req, 3).OK(), "n above the user tier's burst")
}

func TestOptionsFailClosed(t *testing.T) {
	tests := []struct {
		name  string
		opt   httplimit.Option
		param string
	}{
		{"nil option", nil, "opts"},
		{"nil logger", httplimit.WithLogger(nil), "WithLogger"},
		{"nil metrics", httplimit.WithMetrics(nil), "WithMetrics"},
		{"nil tracer", httplimit.WithTracer(nil), "WithTracer"},
		{"zero max keys", httplimit.WithMaxKeys(0), "WithMaxKeys"},
		{"negative idle TTL", httplimit.WithIdleTTL(-time.Second), "WithIdleTTL"},
		{"bad tier rate", httplimit.WithTier(httplimit.Route, -1, 1), "WithTier(route) rate"},
		{"bad tier burst", httplimit.WithTier(httplimit.User, 1, 0), "WithTier(user) burst"},
		{"unknown tier", httplimit.WithTier(httplimit.Scope(9), 1, 1), "WithTier"},
		{"bad route limit", httplimit.WithRoute("/x", limit.Rate(math.NaN()), 1), "WithRoute(/x) rate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := httplimit.New(tc.opt)
			requireConfigError(t, m.Err(), tc.param)
			assert.False(t, m.Allow(get("/a")), "a limiter that failed closed admits nothing")
		})
	}
}

type tenantKey struct{}

func tenantOf(ctx context.Context) string {
	s, _ := ctx.Value(tenantKey{}).(string)
	return s
}

// TestPolicyByRequest puts a MultiTier behind limit.Policy: each call's
// request comes from its ctx, and a tracer given to the MultiTier traces
// the policy's executions.
func TestPolicyByRequest(t *testing.T) {
	rec := observe.NewRecorder()
	m := httplimit.New(httplimit.WithTier(httplimit.User, limit.PerHour(1), 1), httplimit.WithTracer(rec))
	p := limit.Policy[int](m.By(func(ctx context.Context) httplimit.Request {
		return httplimit.Request{Method: "GET", Path: "/x", UserID: tenantOf(ctx)}
	}))
	calls := 0
	call := func(context.Context) (int, error) { calls++; return 1, nil }
	a := context.WithValue(context.Background(), tenantKey{}, "a")
	b := context.WithValue(context.Background(), tenantKey{}, "b")
	_, err := policy.Run(a, p, call)
	require.NoError(t, err)
	_, err = policy.Run(a, p, call)
	require.ErrorIs(t, err, limit.ErrLimited, "tenant a is limited")
	_, err = policy.Run(b, p, call)
	require.NoError(t, err, "tenant b has its own bucket")
	assert.Equal(t, 2, calls)
	assert.Len(t, rec.Spans(), 3, "one span per execution, with the MultiTier's tracer")

	bad := limit.Policy[int](m.By(nil))
	_, err = policy.Run(a, bad, call)
	assert.ErrorIs(t, err, ion.ErrInvalidConfig)
	var nilCtx context.Context
	assert.ErrorIs(t, m.By(func(context.Context) httplimit.Request { return httplimit.Request{} }).Admit(nilCtx, 0), ion.ErrInvalidConfig)
}

// TestRefusedWaitsHoldNothing guards against refused requests holding a
// reservation for a moment: ten concurrent calls of one user, whose tier
// has a burst of 4 at 0.5/s, are 4 admissions and 6 refusals that all say
// "come back in 2 s" (a refused call that charged its tiers and then gave
// them back made the others see a longer wait, and left debt behind).
func TestRefusedWaitsHoldNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(httplimit.WithTier(httplimit.User, 0.5, 4))
		lim := m.By(func(context.Context) httplimit.Request { return httplimit.Request{Path: "/a", UserID: "mallory"} })
		var mu sync.Mutex
		delays := map[time.Duration]int{}
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				err := lim.Admit(context.Background(), 0)
				var le *limit.LimitedError
				mu.Lock()
				defer mu.Unlock()
				if errors.As(err, &le) {
					delays[le.Delay]++
				} else {
					delays[0]++
				}
			})
		}
		wg.Wait()
		assert.Equal(t, map[time.Duration]int{0: 4, 2 * time.Second: 6}, delays)
		assert.InDelta(t, 0, m.TokensAt(time.Now(), httplimit.Request{Path: "/a", UserID: "mallory"})[httplimit.User], 1e-9,
			"the refusals left no debt")
	})
}
