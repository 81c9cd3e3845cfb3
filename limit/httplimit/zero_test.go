package httplimit_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
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
// package: a MultiTier's fails closed (every call refuses, every error
// matches ion.ErrInvalidConfig and says to use New, no call panics or
// blocks); the value types work as documented.
func TestZeroValues(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	tests := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"MultiTier", func(t *testing.T) {
			var m httplimit.MultiTier
			req := httplimit.Request{Method: "GET", Path: "/a", UserID: "u"}
			requireZeroValue(t, m.Err(), "MultiTier", "New")
			assert.False(t, m.Allow(req))
			assert.False(t, m.AllowN(now, req, 1))
			requireZeroValue(t, m.Wait(ctx, req), "MultiTier", "New")
			assert.False(t, m.ReserveN(now, req, 1).OK())
			assert.Equal(t, [5]float64{}, m.TokensAt(now, req))
			h := http.Header{}
			h.Set("X-RateLimit-Remaining", "0")
			requireZeroValue(t, m.UpdateFromHeader(req, h), "MultiTier", "New")
			requireZeroValue(t, m.By(func(context.Context) httplimit.Request { return req }).Admit(ctx, 0), "MultiTier", "New")
			assert.NotEmpty(t, m.RouteKey(req))
			m.PauseFor(time.Second)
			m.Resume()
			assert.False(t, m.IsPaused())
			assert.True(t, m.PausedUntil().IsZero())
			assert.Equal(t, httplimit.Stats{}, m.Stats())
			m.Reset()
			assert.Contains(t, m.String(), "invalid")
		}},

		{"Scope", func(t *testing.T) {
			var s httplimit.Scope
			assert.Equal(t, httplimit.Global, s)
			assert.Equal(t, "global", s.String())
		}},

		{"Request", func(t *testing.T) {
			var req httplimit.Request // every id tier skipped; the route "* /"
			m := httplimit.New()
			assert.Equal(t, "* /", m.RouteKey(req))
			assert.True(t, m.Allow(req))
		}},

		{"Stats", func(t *testing.T) {
			var st httplimit.Stats
			assert.Zero(t, st.AvgWait)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.run)
	}
	_, err := policy.Run(ctx, limit.Policy[int](new(httplimit.MultiTier).By(func(context.Context) httplimit.Request { return httplimit.Request{} })),
		func(context.Context) (int, error) { return 1, nil })
	requireZeroValue(t, err, "MultiTier", "New")
}
