package ionhttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/sem"
)

// Middleware is server middleware built by [RateLimit], [ConcurrencyLimit],
// [Timeout] or [Recover]. Its Handler method has the standard shape
// func(http.Handler) http.Handler, so it plugs into net/http's ServeMux and
// into any router that takes standard middleware:
//
//	mux.Handle("GET /items/{id}", limiter.Handler(items))
//	router.Use(limiter.Handler) // chi, and echo or gin through their adapters
//
// A Middleware built from bad input fails closed: every request is
// answered 500 Internal Server Error and never reaches the handler, and
// [Middleware.Err] reports the configuration error. A Middleware is
// immutable and safe for concurrent use.
type Middleware struct {
	wrap func(next http.Handler) http.Handler
	err  error
}

// Handler returns next wrapped by the middleware. A nil next is answered 500
// with the configuration error.
func (m *Middleware) Handler(next http.Handler) http.Handler {
	err := m.Err()
	if err == nil && next == nil {
		err = ion.NewConfigError("ionhttp", "next", "nil http.Handler")
	}
	if err != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "server misconfigured", http.StatusInternalServerError)
		})
	}
	return m.wrap(next)
}

// Err returns the configuration error that makes m fail closed, or nil. A
// zero Middleware, made by none of this package's functions, fails closed
// too.
func (m *Middleware) Err() error {
	if m.err == nil && m.wrap == nil {
		return errZeroMiddleware
	}
	return m.err
}

var errZeroMiddleware = ion.NewConfigError("ionhttp", "Middleware", "zero value: use a constructor such as RateLimit")

func failed(err error) *Middleware { return &Middleware{err: err} }

// keyCtx holds a request's rate-limit key in its ctx.
type keyCtx struct{}

// LimitKey returns the rate-limit key that [RateLimit] computed for the
// request whose ctx is ctx, or "" outside RateLimit. A keyed limiter
// behind RateLimit takes its key from it, for example
// keyed.By(ionhttp.LimitKey) with a *limit.Keyed[string].
func LimitKey(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}

// RateLimitOption configures [RateLimit].
type RateLimitOption interface{ applyRateLimit(*rateLimitConfig) }

type rateLimitConfig struct {
	name   string
	quota  int64
	window time.Duration
	err    error
}

type rateLimitOption func(*rateLimitConfig)

func (o rateLimitOption) applyRateLimit(c *rateLimitConfig) { o(c) }

// WithQuotaPolicy describes the limit to clients in the RateLimit-Policy
// field of a 429 answer: name (a token, default "default"), quota requests
// per window. Without it, 429 answers carry Retry-After and RateLimit but no
// RateLimit-Policy, since a limit.Limiter does not say its quota. A quota
// below 1, a window below one second or a name that is not a token is
// invalid.
func WithQuotaPolicy(name string, quota int64, window time.Duration) RateLimitOption {
	return rateLimitOption(func(c *rateLimitConfig) {
		if quota < 1 || window < time.Second || !isToken(name) {
			c.err = ion.NewConfigError("ionhttp", "WithQuotaPolicy", "want a token name, a quota of at least 1 and a window of at least 1s, got %q, %d, %v", name, quota, window)
			return
		}
		c.name, c.quota, c.window = name, quota, window
	})
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// RateLimit returns middleware that admits each request through lim, keyed
// by key: the key is computed once per request and put in the request's ctx,
// where a keyed limiter reads it with [LimitKey]. Any limit.Limiter works:
// a *limit.TokenBucket for one shared limit, limit.Keyed's By(LimitKey) for
// a limit per key, a distributed limiter for a limit shared by many
// servers.
//
// A request over the limit is answered 429 Too Many Requests with
// Retry-After (whole seconds, rounded up), RateLimit ("name";r=0;t=<the
// same seconds>) and, with [WithQuotaPolicy], RateLimit-Policy; the handler
// is not called. A key error is answered 400 Bad Request, or 500 when it is a
// configuration error (a [ClientIP] with a malformed proxy range); a
// limiter error other than a rejection (a distributed limiter's store down,
// whose fail-open or fail-closed choice is the limiter's) is answered 503.
//
// It adds one ctx value per request, the key function and lim.Admit. A nil
// lim or key, or an invalid option, fails closed (see [Middleware]).
func RateLimit(lim limit.Limiter, key KeyFunc, opts ...RateLimitOption) *Middleware {
	c := rateLimitConfig{name: "default"}
	for i, o := range opts {
		if o == nil {
			c.err = ion.NewConfigError("ionhttp", fmt.Sprintf("option %d", i), "nil option")
			continue
		}
		o.applyRateLimit(&c)
	}
	switch {
	case c.err != nil:
		return failed(c.err)
	case lim == nil:
		return failed(ion.NewConfigError("ionhttp", "lim", "nil limit.Limiter"))
	case key == nil:
		return failed(ion.NewConfigError("ionhttp", "key", "nil KeyFunc"))
	}
	policyField := ""
	if c.quota > 0 {
		policyField = `"` + c.name + `";q=` + strconv.FormatInt(c.quota, 10) + ";w=" + strconv.FormatInt(int64(c.window/time.Second), 10)
	}
	return &Middleware{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k, err := key(r)
			if err != nil {
				status := http.StatusBadRequest
				if errors.Is(err, ion.ErrInvalidConfig) {
					status = http.StatusInternalServerError
				}
				http.Error(w, "rate limit key: "+err.Error(), status)
				return
			}
			ctx := context.WithValue(r.Context(), keyCtx{}, k)
			if err := lim.Admit(ctx, 0); err != nil {
				d, ok := ion.RetryAfter(err)
				if !ok || !errors.Is(err, ion.ErrRejected) {
					w.Header().Set("Retry-After", "1")
					http.Error(w, "rate limiter unavailable", http.StatusServiceUnavailable)
					return
				}
				secs := retryAfterSeconds(d)
				h := w.Header()
				h.Set("Retry-After", secs)
				h.Set("RateLimit", `"`+c.name+`";r=0;t=`+secs)
				if policyField != "" {
					h.Set("RateLimit-Policy", policyField)
				}
				http.Error(w, "too many requests", http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}}
}

// retryAfterSeconds formats d as whole seconds, rounded up, at least 1 (a
// client told 0 would come back at once) and at most a day.
func retryAfterSeconds(d time.Duration) string {
	s := math.Ceil(d.Seconds())
	switch {
	case s < 1:
		s = 1
	case s > 86400:
		s = 86400
	}
	return strconv.FormatInt(int64(s), 10)
}

// ConcurrencyLimit returns middleware that runs at most s's capacity of
// requests at once and sheds the rest at once with 503 Service Unavailable
// and Retry-After: retryAfter (rounded up to whole seconds, at least 1),
// without calling the handler. Shedding at once keeps latency bounded under
// overload: a request that would queue is answered while the client can
// still go elsewhere. It costs one TryAcquire and one Release per request.
// A nil s or a negative retryAfter fails closed (see [Middleware]).
func ConcurrencyLimit(s *sem.Weighted, retryAfter time.Duration) *Middleware {
	switch {
	case s == nil:
		return failed(ion.NewConfigError("ionhttp", "s", "nil *sem.Weighted"))
	case s.Err() != nil:
		return failed(s.Err())
	case retryAfter < 0:
		return failed(ion.NewConfigError("ionhttp", "retryAfter", "must not be negative, got %v", retryAfter))
	}
	secs := retryAfterSeconds(retryAfter)
	return &Middleware{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !s.TryAcquire(1) {
				w.Header().Set("Retry-After", secs)
				http.Error(w, "overloaded", http.StatusServiceUnavailable)
				return
			}
			defer func() { _ = s.Release(1) }() // on every path, a panic included
			next.ServeHTTP(w, r)
		})
	}}
}

// ErrHandlerTimeout is the cause of a request's ctx when the deadline set by
// [Timeout] passed.
var ErrHandlerTimeout = errors.New("ionhttp: handler timed out")

// Timeout returns middleware that gives each request's ctx a deadline d
// from its arrival, with cause [ErrHandlerTimeout]: the handler and
// everything it calls with that ctx (database queries, outgoing requests
// through a [Transport]) stop when it passes. Unlike http.TimeoutHandler it
// neither buffers the response nor writes one: a handler that honours its
// ctx answers as it sees fit, and streaming keeps working. d must be
// positive; otherwise it fails closed (see [Middleware]).
func Timeout(d time.Duration) *Middleware {
	if d <= 0 {
		return failed(ion.NewConfigError("ionhttp", "d", "must be positive, got %v", d))
	}
	return &Middleware{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeoutCause(r.Context(), d, ErrHandlerTimeout)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}}
}

// Recover returns middleware that turns a panic in the handler into a 500
// Internal Server Error answer and a report: report receives the request and
// the panic as a *ion.PanicError (value and stack). A nil report logs the
// panic with slog.Default at level Error. The server never crashes and the
// connection is kept, except for http.ErrAbortHandler, which is re-panicked
// as net/http expects. If the handler had already begun its answer, the
// client gets that truncated answer instead of a 500.
func Recover(report func(r *http.Request, p *ion.PanicError)) *Middleware {
	if report == nil {
		report = func(r *http.Request, p *ion.PanicError) {
			slog.Default().LogAttrs(r.Context(), slog.LevelError, "ionhttp: handler panicked",
				slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Any("panic", p.Value), slog.String("stack", string(p.Stack)))
		}
	}
	return &Middleware{wrap: func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				p := ion.NewPanicError(v)
				http.Error(w, "internal server error", http.StatusInternalServerError)
				report(r, p)
			}()
			next.ServeHTTP(w, r)
		})
	}}
}
