package httplimit_test

import (
	"net/http"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/observe"
)

func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1]) // canonicalizes: X-Ratelimit-Remaining
	}
	return h
}

func admittedNow(m *httplimit.MultiTier, req httplimit.Request, max int) int {
	n := 0
	for range max {
		if m.Allow(req) {
			n++
		}
	}
	return n
}

func routeOnly(burst int) *httplimit.MultiTier {
	return httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.Inf, 0),
		httplimit.WithTier(httplimit.Route, 1, burst),
	)
}

// TestSeedHeadersExactCase guards against the seed's exact-case lookups,
// which missed Go's canonical http.Header keys, and against its ignoring
// X-RateLimit-Remaining: the remaining count is applied whatever the case.
func TestSeedHeadersExactCase(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, h := range []http.Header{
			headers("x-ratelimit-remaining", "2"),
			headers("X-RateLimit-Remaining", "2"),
			{"X-RateLimit-Remaining": {"2"}}, // a literal, non-canonical key
			{"X-Ratelimit-Remaining": {" 2 "}},
		} {
			m := routeOnly(10)
			require.NoError(t, m.UpdateFromHeader(get("/a"), h))
			assert.Equal(t, 2, admittedNow(m, get("/a"), 10), "Remaining 2 drains the route bucket to 2, header %v", h)
		}
	})
}

func TestHeaderRemainingNeverAdds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := routeOnly(10)
		require.Equal(t, 3, admittedNow(m, get("/a"), 3))
		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Remaining", "50")))
		assert.Equal(t, 7, admittedNow(m, get("/a"), 10), "a remaining count above ours adds nothing")
	})
}

func TestHeaderResetHoldsRoute(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, h := range []func() http.Header{
			func() http.Header {
				return headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After", "1.5")
			},
			func() http.Header {
				reset := float64(time.Now().Add(1500*time.Millisecond).UnixNano()) / 1e9
				return headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset", strconv.FormatFloat(reset, 'f', 3, 64))
			},
		} {
			m := routeOnly(10)
			start := time.Now()
			require.NoError(t, m.UpdateFromHeader(get("/a"), h()))
			assert.False(t, m.Allow(get("/a")), "nothing before the reset")
			assert.True(t, m.Allow(get("/b")), "other routes are not held")
			require.NoError(t, m.Wait(t.Context(), get("/a")))
			assert.Equal(t, 1500*time.Millisecond, time.Since(start).Round(time.Millisecond), "admitted at the reset")
		}
	})
}

func TestHeaderLimitSetsBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := routeOnly(10)
		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Limit", "3")))
		require.ErrorIs(t, m.WaitN(t.Context(), get("/a"), 4), limit.ErrExceedsBurst, "the route's burst is now 3")
		assert.Equal(t, 3, admittedNow(m, get("/a"), 10))
	})
}

func TestHeaderRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := routeOnly(10)
		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("Retry-After", "2")))
		assert.False(t, m.Allow(get("/a")))
		assert.True(t, m.Allow(get("/b")), "a route's Retry-After holds that route only")
		assert.False(t, m.IsPaused())

		date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
		require.NoError(t, m.UpdateFromHeader(get("/c"), headers("Retry-After", date)))
		assert.False(t, m.Allow(get("/c")))
		time.Sleep(3 * time.Second)
		assert.True(t, m.Allow(get("/c")), "an HTTP-date Retry-After holds until that date")
		assert.True(t, m.Allow(get("/a")))
	})
}

func TestHeaderGlobalPauses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := observe.NewRecorder()
		m := httplimit.New(httplimit.WithLogger(rec))
		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Global", "true", "Retry-After", "5")))
		assert.True(t, m.IsPaused(), "a global limit pauses the whole limiter")
		assert.False(t, m.Allow(get("/zzz")))
		assert.Equal(t, time.Now().Add(5*time.Second), m.PausedUntil())
		require.Len(t, rec.Logs(), 1, "a global pause is logged")

		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Global", "TRUE", "X-RateLimit-Reset-After", "1")))
		assert.Equal(t, time.Now().Add(time.Second), m.PausedUntil(), "Reset-After when there is no Retry-After")

		err := m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Global", "true"))
		assert.ErrorIs(t, err, httplimit.ErrHeader, "a global limit without a duration")
	})
}

func TestHeaderBucketMapping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, limit.Inf, 0),
			httplimit.WithRoute("/channels/{channel}/messages", 1, 5),
			httplimit.WithRoute("/channels/{channel}/pins", 1, 5),
			httplimit.WithMajorParams("channel"),
		)
		require.NoError(t, m.UpdateFromHeader(get("/channels/1/messages"), headers("X-RateLimit-Bucket", "abc")))
		require.NoError(t, m.UpdateFromHeader(get("/channels/1/pins"), headers("X-RateLimit-Bucket", "abc", "X-RateLimit-Remaining", "1")))
		assert.Equal(t, 1, admittedNow(m, get("/channels/1/messages"), 5)+admittedNow(m, get("/channels/1/pins"), 5),
			"two routes in one server bucket share one route bucket")
		assert.Equal(t, 5, admittedNow(m, get("/channels/2/messages"), 10), "another major parameter, another bucket")
	})
}

func TestHeaderMalformed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tests := []struct{ name, value string }{
			{"X-RateLimit-Limit", "ten"},
			{"X-RateLimit-Limit", "0"},
			{"X-RateLimit-Limit", "99999999999999999999"},
			{"X-RateLimit-Remaining", "-1"},
			{"X-RateLimit-Remaining", "1.5"},
			{"X-RateLimit-Reset-After", "-2"},
			{"X-RateLimit-Reset-After", "NaN"},
			{"X-RateLimit-Reset-After", "+Inf"},
			{"X-RateLimit-Reset", "soon"},
			{"X-RateLimit-Reset", "Inf"},
			{"Retry-After", "tomorrow"},
			{"X-RateLimit-Global", "yes"},
		}
		for _, tc := range tests {
			m := routeOnly(10)
			err := m.UpdateFromHeader(get("/a"), headers(tc.name, tc.value, "X-RateLimit-Remaining", "4"))
			if tc.name == "X-RateLimit-Remaining" {
				err = m.UpdateFromHeader(get("/a"), headers(tc.name, tc.value, "X-RateLimit-Limit", "4"))
			}
			require.ErrorIsf(t, err, httplimit.ErrHeader, "%s: %q", tc.name, tc.value)
			assert.Contains(t, err.Error(), tc.name)
			assert.LessOrEqual(t, admittedNow(m, get("/a"), 10), 4, "the well-formed headers still apply")
		}
		m := routeOnly(10)
		require.NoError(t, m.UpdateFromHeader(get("/a"), nil), "no headers, nothing to do")
		require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Reset-After", "1e300")), "a huge reset saturates")
	})
}

func TestHeaderRouteTierDisabled(t *testing.T) {
	m := httplimit.New(httplimit.WithTier(httplimit.Route, limit.Inf, 0))
	require.NoError(t, m.UpdateFromHeader(get("/a"), headers("X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After", "10")))
	assert.True(t, m.Allow(get("/a")), "no route tier: route headers have nothing to hold")
}

func TestHeaderHoldExtremeRates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, rate := range []limit.Rate{0, limit.PerHour(1), 1e12} {
			m := httplimit.New(httplimit.WithTier(httplimit.Global, limit.Inf, 0), httplimit.WithTier(httplimit.Route, rate, 5))
			require.NoError(t, m.UpdateFromHeader(get("/a"), headers("Retry-After", "100000000")))
			assert.False(t, m.Allow(get("/a")), "rate %v: held", rate)
			time.Sleep(time.Hour)
			assert.False(t, m.Allow(get("/a")), "rate %v: still held an hour later", rate)
		}
	})
}

// TestLearnedRouteLimitForgottenBySweep guards against a limit learnt from
// X-RateLimit-Limit being forgotten: the route's bucket was full at its new
// burst, so the next sweep (a call on any other route) forgot it and the
// route came back with the default burst of 50, where the server allows 2.
func TestLearnedRouteLimitForgottenBySweep(t *testing.T) {
	m := httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.Inf, 0),
		httplimit.WithTier(httplimit.Resource, limit.Inf, 0),
		httplimit.WithTier(httplimit.Route, limit.PerHour(1), 50))
	a := httplimit.Request{Method: "GET", Path: "/a"}
	require.NoError(t, m.UpdateFromHeader(a, headers("X-RateLimit-Limit", "2")))
	m.Allow(httplimit.Request{Method: "GET", Path: "/b"}) // traffic on other routes sweeps
	m.Allow(httplimit.Request{Method: "GET", Path: "/c"})
	n := 0
	for range 10 {
		if m.Allow(a) {
			n++
		}
	}
	assert.Equal(t, 2, n, "the server said limit 2 for /a")
}

// TestHeaderRemainingZeroNotLostToSweep guards the header path against the
// sweep race: Remaining: 0 applied while other routes' calls sweep must
// land on the bucket the route's next call finds.
func TestHeaderRemainingZeroNotLostToSweep(t *testing.T) {
	for r := range 200 {
		m := httplimit.New(httplimit.WithTier(httplimit.Global, limit.Inf, 0),
			httplimit.WithTier(httplimit.Route, limit.PerHour(1), 5))
		a := httplimit.Request{Method: "GET", Path: "/a" + strconv.Itoa(r)}
		var wg sync.WaitGroup
		wg.Go(func() { _ = m.UpdateFromHeader(a, headers("X-RateLimit-Remaining", "0")) })
		wg.Go(func() {
			for i := range 20 {
				m.Allow(httplimit.Request{Method: "GET", Path: "/b" + strconv.Itoa(i)})
			}
		})
		wg.Wait()
		require.False(t, m.Allow(a), "round %d: Remaining 0 was lost", r)
	}
}
