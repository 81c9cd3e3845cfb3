package httplimit_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
	"github.com/ionkit/ion/policy"
)

func ExampleNew() {
	gw := httplimit.New(
		httplimit.WithTier(httplimit.Global, limit.PerSecond(100), 100),
		httplimit.WithTier(httplimit.User, limit.PerSecond(1), 1),
		httplimit.WithRoute("POST /api/v1/orders", limit.PerSecond(1), 2),
	)
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	alice := httplimit.Request{Method: "POST", Path: "/api/v1/orders", UserID: "alice"}
	bob := httplimit.Request{Method: "POST", Path: "/api/v1/orders", UserID: "bob"}
	carol := httplimit.Request{Method: "POST", Path: "/api/v1/orders", UserID: "carol"}
	fmt.Println("alice:", gw.AllowN(now, alice, 1))
	fmt.Println("alice again:", gw.AllowN(now, alice, 1)) // her user bucket is empty
	fmt.Println("bob:", gw.AllowN(now, bob, 1))
	fmt.Println("carol:", gw.AllowN(now, carol, 1)) // the route allows 2 at once
	fmt.Println(gw.RouteKey(httplimit.Request{Method: "GET", Path: "/api/v1/users/42"}))
	st := gw.Stats()
	fmt.Println(st.Allowed, st.Limited, st.LimitedBy[httplimit.User], st.LimitedBy[httplimit.Route])
	// Output:
	// alice: true
	// alice again: false
	// bob: true
	// carol: false
	// GET /api/v1/users/{id}
	// 2 2 1 1
}

func ExampleMultiTier_UpdateFromHeader() {
	gw := httplimit.New()
	req := httplimit.Request{Method: "GET", Path: "/api/items"}
	h := http.Header{}
	h.Set("X-RateLimit-Remaining", "0")
	h.Set("X-RateLimit-Reset-After", "30")
	fmt.Println(gw.UpdateFromHeader(req, h))
	fmt.Println(gw.Allow(req)) // the server said: nothing more before the reset

	h = http.Header{}
	h.Set("X-RateLimit-Global", "true")
	h.Set("Retry-After", "10")
	fmt.Println(gw.UpdateFromHeader(req, h))
	fmt.Println(gw.IsPaused())

	h = http.Header{}
	h.Set("X-RateLimit-Remaining", "lots")
	fmt.Println(errors.Is(gw.UpdateFromHeader(req, h), httplimit.ErrHeader))
	// Output:
	// <nil>
	// false
	// <nil>
	// true
	// true
}

func ExampleMultiTier_By() {
	gw := httplimit.New(httplimit.WithTier(httplimit.Route, limit.PerMinute(1), 1))
	p := limit.Policy[int](gw.By(func(context.Context) httplimit.Request {
		return httplimit.Request{Method: "GET", Path: "/health"}
	}))
	call := func(context.Context) (int, error) { return 200, nil }
	_, err := policy.Run(context.Background(), p, call)
	fmt.Println(err)
	_, err = policy.Run(context.Background(), p, call)
	var le *limit.LimitedError
	fmt.Println(errors.As(err, &le), le.Tier)
	// Output:
	// <nil>
	// true route
}
