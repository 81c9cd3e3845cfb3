package ionhttp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
	"github.com/ionkit/ion/ionhttp"
)

// TestPriorityTravelsFromClientToServer sends calls with and without a
// priority through an ionhttp client to a real server behind the Priority
// middleware, which trusts only requests that carry a shared secret.
func TestPriorityTravelsFromClientToServer(t *testing.T) {
	const secret = "X-Internal"
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, adaptive.PriorityFromContext(r.Context()).String()+" "+r.Header.Get(ionhttp.PriorityHeader))
	})
	trusted := func(r *http.Request) bool { return r.Header.Get(secret) == "yes" }
	srv := httptest.NewServer(ionhttp.Priority(trusted).Handler(handler))
	defer srv.Close()
	client := ionhttp.NewClient(srv.Client().Transport)

	get := func(ctx context.Context, header map[string]string) string {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		require.NoError(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		assert.Empty(t, req.Header.Get(ionhttp.PriorityHeader), "the transport adds the header to its own copy, never to the caller's request")
		return string(body)
	}
	critical := adaptive.ContextWithPriority(context.Background(), adaptive.Critical)
	sheddable := adaptive.ContextWithPriority(context.Background(), adaptive.Sheddable)

	assert.Equal(t, "critical critical", get(critical, map[string]string{secret: "yes"}), "a trusted caller's priority reaches the handler")
	assert.Equal(t, "sheddable sheddable", get(sheddable, map[string]string{secret: "yes"}))
	assert.Equal(t, "normal critical", get(critical, nil), "an untrusted request keeps the normal priority")
	assert.Equal(t, "normal ", get(context.Background(), map[string]string{secret: "yes"}), "a normal priority is not sent")

	req, _ := http.NewRequestWithContext(critical, http.MethodGet, srv.URL, nil)
	req.Header.Set(ionhttp.PriorityHeader, "low")
	req.Header.Set(secret, "yes")
	resp, err := client.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, "low low", string(body), "a header the caller set itself wins")
}

func TestPriorityIgnoresUnknownValues(t *testing.T) {
	h := ionhttp.Priority(func(*http.Request) bool { return true }).Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, adaptive.PriorityFromContext(r.Context()).String())
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set(ionhttp.PriorityHeader, "ultra")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assert.Equal(t, "normal", rec.Body.String(), "an unknown priority is normal, never higher")
}

func TestPriorityNilTrustedFailsClosed(t *testing.T) {
	m := ionhttp.Priority(nil)
	assert.ErrorIs(t, m.Err(), ion.ErrInvalidConfig)
	rec := httptest.NewRecorder()
	m.Handler(http.NotFoundHandler()).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
}
