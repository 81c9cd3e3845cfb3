package ionhttp

import (
	"net/http"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
)

// PriorityHeader carries a call's priority (see package adaptive) from a
// client to a server: "sheddable", "low", "normal", "high" or "critical".
//
// The Transport sets it on every outgoing request whose ctx carries a
// priority other than normal (adaptive.ContextWithPriority) and that does
// not set the header itself, so a priority given to a call at the edge of
// a system travels with it from service to service. [Priority] reads it on
// the server side.
const PriorityHeader = "Ion-Priority"

// withPriority returns r with the priority of its ctx in PriorityHeader,
// copying its header map only when it adds the header (the caller's request
// is never changed). A normal priority, the default, is not sent.
func withPriority(r *http.Request) *http.Request {
	p := adaptive.PriorityFromContext(r.Context())
	if p == adaptive.Normal || r.Header.Get(PriorityHeader) != "" {
		return r
	}
	h := r.Header.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set(PriorityHeader, p.String())
	r.Header = h
	return r
}

// Priority returns middleware that gives each request the priority its
// client sent in [PriorityHeader] (adaptive.ContextWithPriority on the
// request's ctx), so that an adaptive limiter or throttler behind it sheds
// the lowest priorities first. It believes the header only when trusted
// returns true for the request (a call from a service of your own, a proxy
// you run): any client could claim "critical". A request it does not trust,
// or whose header is missing or unknown, keeps the normal priority.
//
// It adds one ctx value to a request that carries a priority, and nothing
// to one that does not. A nil trusted fails closed (see Middleware).
func Priority(trusted func(r *http.Request) bool) *Middleware {
	if trusted == nil {
		return failed(ion.NewConfigError("ionhttp", "trusted", "nil function"))
	}
	return &Middleware{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if v := r.Header.Get(PriorityHeader); v != "" && trusted(r) {
				if p, err := adaptive.ParsePriority(v); err == nil && p != adaptive.Normal {
					r = r.WithContext(adaptive.ContextWithPriority(r.Context(), p))
				}
			}
			next.ServeHTTP(w, r)
		})
	}}
}
