package limit_test

import (
	"errors"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
)

// FuzzNewTokenBucket builds limiters from arbitrary rates and bursts and
// uses them at arbitrary times. Properties: no panic; an invalid
// configuration fails closed with ErrInvalidConfig; a valid one never admits
// more than its burst at one instant (nothing fails open), and a time
// earlier than the last mints nothing.
func FuzzNewTokenBucket(f *testing.F) {
	f.Add(10.0, 5, 1, int64(0))
	f.Add(1e12, 1000, 1000, int64(1))
	f.Add(1e-10, 1, 2, int64(-1))
	f.Add(math.NaN(), 1, 1, int64(5))
	f.Add(math.Inf(1), 0, math.MaxInt, int64(1)<<62)
	f.Add(-1.0, -1, -1, int64(math.MinInt64))
	f.Add(0.0, 3, 1, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, rate float64, burst, n int, dt int64) {
		at := t0.Add(time.Duration(dt))
		for _, lim := range []interface {
			allowerN
			Err() error
			ReserveN(time.Time, int) *limit.Reservation
		}{
			limit.NewTokenBucket(limit.Rate(rate), burst),
			limit.NewLeakyBucket(limit.Rate(rate), burst),
		} {
			if err := lim.Err(); err != nil {
				if !errors.Is(err, ion.ErrInvalidConfig) {
					t.Fatalf("Err() = %v, want an error matching ErrInvalidConfig", err)
				}
				if lim.AllowN(at, 1) || lim.ReserveN(at, 1).OK() {
					t.Fatal("a limiter that failed closed admitted a request")
				}
				continue
			}
			lim.AllowN(at, n)
			if r := lim.ReserveN(at, n); r.OK() {
				if r.DelayFrom(at) < 0 {
					t.Fatalf("negative delay %v", r.DelayFrom(at))
				}
				r.CancelAt(at)
			}
			if rate >= math.MaxFloat64 || math.IsInf(rate, 1) || burst > 1<<12 {
				continue // unlimited, or a burst too large to count one by one
			}
			later := at.Add(time.Hour)
			admitted := 0
			for range burst + 2 {
				if lim.AllowN(later, 1) {
					admitted++
				}
			}
			if admitted > burst {
				t.Fatalf("admitted %d at one instant with burst %d", admitted, burst)
			}
			if admitted < burst && rate*3600 >= float64(burst) && dt < 1<<61 && dt > -1<<61 {
				t.Fatalf("admitted %d after an idle hour, want the whole burst %d", admitted, burst)
			}
			if lim.AllowN(at, 1) && admitted == burst {
				t.Fatal("an earlier time minted a token")
			}
		}
	})
}

// FuzzMultiTier builds a multi-tier limiter from an arbitrary route pattern
// and routes arbitrary requests. Properties: no panic; a bad pattern fails
// closed; route keys are deterministic; the global burst is never exceeded.
func FuzzMultiTier(f *testing.F) {
	f.Add("GET /api/v1/users/{id}", "GET", "/api/v1/users/42", "r", "u")
	f.Add("/a/{b}/c", "post", "//a//x/c?q=1", "", "")
	f.Add("{", "", "", "", "")
	f.Add("GET /x/{y", "GET", "/x/{y", "1", "2")
	f.Fuzz(func(t *testing.T, pattern, method, path, resource, user string) {
		m := limit.NewMultiTier(
			limit.WithTier(limit.Global, limit.PerHour(1), 3),
			limit.WithTier(limit.User, 1, 1),
			limit.WithRoute(pattern, 1, 2),
			limit.WithMajorParams("id", "b"),
		)
		req := limit.Request{Method: method, Path: path, ResourceID: resource, UserID: user}
		if err := m.Err(); err != nil {
			if !errors.Is(err, ion.ErrInvalidConfig) {
				t.Fatalf("Err() = %v, want ErrInvalidConfig", err)
			}
			if m.AllowN(t0, req, 1) {
				t.Fatal("a limiter that failed closed admitted a request")
			}
			return
		}
		if k1, k2 := m.RouteKey(req), m.RouteKey(req); k1 != k2 {
			t.Fatalf("RouteKey not deterministic: %q vs %q", k1, k2)
		}
		admitted := 0
		for i := range 6 {
			r := req
			if i%2 == 1 {
				r.Path += "/x"
			}
			if m.AllowN(t0, r, 1) {
				admitted++
			}
		}
		if admitted > 3 {
			t.Fatalf("admitted %d, above the global burst 3", admitted)
		}
	})
}

// FuzzHeader feeds arbitrary rate-limit headers to a multi-tier limiter.
// Properties: no panic; every error matches ErrHeader; headers never add
// tokens (at most the 2 the route bucket had are admitted afterwards).
func FuzzHeader(f *testing.F) {
	f.Add("10", "2", "1.5", "", "", "false", "abc")
	f.Add("0", "-1", "NaN", "1e300", "Wed, 21 Oct 2015 07:28:00 GMT", "true", "")
	f.Add("99999999999999999999", "x", "-0", "+Inf", "-5", "TRUE", " ")
	f.Fuzz(func(t *testing.T, lim, remaining, resetAfter, reset, retryAfter, global, bucket string) {
		m := limit.NewMultiTier(
			limit.WithTier(limit.Global, limit.Inf, 0),
			limit.WithTier(limit.Route, 1, 2),
		)
		h := http.Header{}
		for k, v := range map[string]string{
			"X-RateLimit-Limit": lim, "X-RateLimit-Remaining": remaining,
			"X-RateLimit-Reset-After": resetAfter, "X-RateLimit-Reset": reset,
			"Retry-After": retryAfter, "X-RateLimit-Global": global, "X-RateLimit-Bucket": bucket,
		} {
			h.Set(k, v)
		}
		req := limit.Request{Method: "GET", Path: "/a"}
		if err := m.UpdateFromHeader(req, h); err != nil && !errors.Is(err, limit.ErrHeader) {
			t.Fatalf("UpdateFromHeader = %v, want nil or an error matching ErrHeader", err)
		}
		admitted := 0
		for range 5 {
			if m.Allow(req) {
				admitted++
			}
		}
		if admitted > 2 {
			t.Fatalf("admitted %d after headers, want at most the 2 tokens the bucket had", admitted)
		}
	})
}
