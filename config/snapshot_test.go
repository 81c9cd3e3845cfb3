package config_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/config"
)

// TestServeHTTP serves the snapshot over a real TCP connection on the
// loopback interface.
func TestServeHTTP(t *testing.T) {
	r := newRegistry(t, `{
		"breakers": {"db": {"consecutive_failures": 1}},
		"limiters": {"open": {"rate": "inf", "burst": 0}, "api": {"rate": "10/s", "burst": 5}, "both": {"kind": "all", "members": ["api", "open"]}},
		"bulkheads": {"h": {"capacity": 3}},
		"pools": {"w": {"size": 2}},
		"adaptive": {"a": {"initial_limit": 7}},
		"throttlers": {"th": {"k": 1.5}},
		"pipelines": {"p": {"retry": {"attempts": 1}, "breaker": "db", "throttler": "th", "bulkhead": {"use": "h", "weight": 2}, "timeout": {"after": "1s"}}}}`)
	p := config.Pipeline[string](r, "p")
	_, err := p.Run(t.Context(), fail)
	require.ErrorIs(t, err, errDown)

	srv := httptest.NewServer(r)
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	var s config.Snapshot
	require.NoError(t, json.Unmarshal(body, &s), "the body is a Snapshot in JSON: %s", body)
	assert.Equal(t, uint64(1), s.Generation)
	assert.Equal(t, "open", s.Breakers["db"].State, "one failure opened the breaker")
	assert.False(t, s.Breakers["db"].Healthy)
	assert.Equal(t, int64(1), s.Breakers["db"].TotalFailures)
	assert.Equal(t, []float64{-1}, s.Limiters["open"].Tokens, "an unlimited bucket reports -1 tokens (JSON has no infinity)")
	assert.Equal(t, "inf", s.Limiters["open"].Rate)
	assert.Equal(t, "10/s", s.Limiters["api"].Rate)
	assert.Equal(t, 5, s.Limiters["api"].Burst)
	assert.Equal(t, []string{"api", "open"}, s.Limiters["both"].Members)
	assert.Len(t, s.Limiters["both"].Tokens, 2, "one figure per member")
	assert.Equal(t, config.BulkheadStatus{Capacity: 3, Available: 3}, s.Bulkheads["h"], "the call's permits were released")
	assert.Equal(t, 2, s.Pools["w"].Size)
	assert.Equal(t, 7, s.Adaptive["a"].Limit)
	assert.InDelta(t, 0.5, s.Throttlers["th"].RejectionRate, 1e-9, "one request, none accepted: (1 − 1.5·0)/(1+1)")
	assert.Equal(t, []string{"retry", "breaker(db)", "throttler(th)", "bulkhead(h)", "timeout(1s)"}, s.Pipelines["p"])

	head, err := http.Head(srv.URL)
	require.NoError(t, err)
	b, _ := io.ReadAll(head.Body)
	head.Body.Close()
	assert.Equal(t, http.StatusOK, head.StatusCode)
	assert.Empty(t, b, "HEAD has no body")

	post, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
	require.NoError(t, err)
	post.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, post.StatusCode)
	assert.Equal(t, "GET, HEAD", post.Header.Get("Allow"))
}
