package httplimit_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
)

// FuzzMultiTier builds a multi-tier limiter from an arbitrary route pattern
// and routes arbitrary requests. Properties: no panic; a bad pattern fails
// closed; route keys are deterministic; the global burst is never exceeded.
func FuzzMultiTier(f *testing.F) {
	f.Add("GET /api/v1/users/{id}", "GET", "/api/v1/users/42", "r", "u")
	f.Add("/a/{b}/c", "post", "//a//x/c?q=1", "", "")
	f.Add("{", "", "", "", "")
	f.Add("GET /x/{y", "GET", "/x/{y", "1", "2")
	f.Fuzz(func(t *testing.T, pattern, method, path, resource, user string) {
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, limit.PerHour(1), 3),
			httplimit.WithTier(httplimit.User, 1, 1),
			httplimit.WithRoute(pattern, 1, 2),
			httplimit.WithMajorParams("id", "b"),
		)
		req := httplimit.Request{Method: method, Path: path, ResourceID: resource, UserID: user}
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
		m := httplimit.New(
			httplimit.WithTier(httplimit.Global, limit.Inf, 0),
			httplimit.WithTier(httplimit.Route, 1, 2),
		)
		h := http.Header{}
		for k, v := range map[string]string{
			"X-RateLimit-Limit": lim, "X-RateLimit-Remaining": remaining,
			"X-RateLimit-Reset-After": resetAfter, "X-RateLimit-Reset": reset,
			"Retry-After": retryAfter, "X-RateLimit-Global": global, "X-RateLimit-Bucket": bucket,
		} {
			h.Set(k, v)
		}
		req := httplimit.Request{Method: "GET", Path: "/a"}
		if err := m.UpdateFromHeader(req, h); err != nil && !errors.Is(err, httplimit.ErrHeader) {
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
