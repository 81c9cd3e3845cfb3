package iongrpc_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
	"github.com/ionkit/ion/sem"
)

func serverOpts(s *iongrpc.Server) []grpc.ServerOption {
	return []grpc.ServerOption{grpc.UnaryInterceptor(s.Unary()), grpc.StreamInterceptor(s.Stream())}
}

func TestServerRateLimitPerMethod(t *testing.T) {
	transports(t, func(t *testing.T, buf bool) {
		keyed := limit.NewKeyed[string](limit.Every(10*time.Second), 1)
		s := iongrpc.NewServer(iongrpc.WithRateLimit(keyed.By(iongrpc.LimitKey), iongrpc.MethodKey))
		require.NoError(t, s.Err())
		h := &health{updates: 1}
		hc := listen(t, h, nil, buf, serverOpts(s)...)
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		var trailer metadata.MD
		_, err = hc.Check(t.Context(), &healthpb.HealthCheckRequest{}, grpc.Trailer(&trailer))
		st := status.Convert(err)
		require.Equal(t, codes.ResourceExhausted, st.Code(), "the second Check is over the limit")
		var ri *errdetails.RetryInfo
		for _, d := range st.Details() {
			if r, ok := d.(*errdetails.RetryInfo); ok {
				ri = r
			}
		}
		require.NotNil(t, ri, "the refusal carries RetryInfo")
		assert.InDelta(t, 10*time.Second, ri.RetryDelay.AsDuration(), float64(100*time.Millisecond))
		d, ok := iongrpc.Pushback(err, trailer)
		assert.True(t, ok, "the client side reads what the server side writes")
		assert.InDelta(t, 10*time.Second, d, float64(100*time.Millisecond))
		assert.NotEmpty(t, trailer.Get("grpc-retry-pushback-ms"))

		w, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		_, err = w.Recv()
		assert.NoError(t, err, "Watch is another method, with a limit of its own")
		assert.Equal(t, int64(2), h.calls.Load())
	})
}

func TestServerRateLimitPerPeer(t *testing.T) {
	keyed := limit.NewKeyed[string](limit.Every(time.Hour), 2)
	var keys []string
	s := iongrpc.NewServer(iongrpc.WithRateLimit(keyed.By(iongrpc.LimitKey), func(ctx context.Context, m string) (string, error) {
		k, err := iongrpc.PeerKey(ctx, m)
		keys = append(keys, k)
		return k, err
	}))
	hc := listen(t, &health{}, nil, false, serverOpts(s)...)
	for range 2 {
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
	}
	_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, "127.0.0.1", keys[0], "keyed by the peer's IP, without its port")
}

func TestServerConcurrencyLimit(t *testing.T) {
	inside := make(chan struct{})
	release := make(chan struct{})
	h := &health{fail: func(ctx context.Context, n int64) error {
		if n == 1 {
			inside <- struct{}{}
			<-release
		}
		return nil
	}}
	s := iongrpc.NewServer(iongrpc.WithConcurrencyLimit(sem.NewWeighted(1), 2*time.Second))
	hc := listen(t, h, nil, true, serverOpts(s)...)
	done := make(chan error)
	// Owner: this test. Exit: when release is closed. Join: <-done.
	go func() {
		_, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{})
		done <- err
	}()
	<-inside
	_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err), "the one slot is taken: shed")
	d, ok := iongrpc.Pushback(err, nil)
	assert.True(t, ok)
	assert.Equal(t, 2*time.Second, d)
	close(release)
	assert.NoError(t, <-done)
}

func TestServerPanicIsInternal(t *testing.T) {
	var reported atomic.Pointer[ion.PanicError]
	h := &health{fail: func(context.Context, int64) error { panic("boom") }}
	s := iongrpc.NewServer(iongrpc.WithPanicReport(func(_ context.Context, method string, p *ion.PanicError) {
		reported.Store(p)
	}), iongrpc.WithConcurrencyLimit(sem.NewWeighted(1), time.Second))
	hc := listen(t, h, nil, true, serverOpts(s)...)
	for range 2 {
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Internal, status.Code(err), "a panic is answered Internal, and the slot given back")
	}
	w, err := hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	assert.Equal(t, codes.Internal, status.Code(err), "in streams too")
	require.NotNil(t, reported.Load())
	assert.Equal(t, "boom", reported.Load().Value)
}

func TestServerPushbackHonouredByClient(t *testing.T) {
	lim := limit.NewTokenBucket(limit.Every(50*time.Millisecond), 1)
	s := iongrpc.NewServer(iongrpc.WithRateLimit(lim, iongrpc.MethodKey))
	c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3), noWait, policy.WithMaxRetryAfter(time.Second)))
	hc := listen(t, &health{}, c, true, serverOpts(s)...)
	start := time.Now()
	for range 2 {
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		require.NoError(t, err, "the client waits the server's pushback and gets through")
	}
	assert.GreaterOrEqual(t, time.Since(start), 40*time.Millisecond)
}

func TestServerBadInput(t *testing.T) {
	cases := []struct {
		name  string
		s     *iongrpc.Server
		param string
	}{
		{"nil option", iongrpc.NewServer(nil), "option 0"},
		{"nil limiter", iongrpc.NewServer(iongrpc.WithRateLimit(nil, iongrpc.MethodKey)), "WithRateLimit"},
		{"nil key", iongrpc.NewServer(iongrpc.WithRateLimit(limit.NewTokenBucket(1, 1), nil)), "WithRateLimit"},
		{"nil semaphore", iongrpc.NewServer(iongrpc.WithConcurrencyLimit(nil, 0)), "WithConcurrencyLimit"},
		{"nil report", iongrpc.NewServer(iongrpc.WithPanicReport(nil)), "WithPanicReport"},
		{"zero value", &iongrpc.Server{}, "Server"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policytest.AssertInvalidConfig(t, tc.s.Err(), tc.param)
			h := &health{}
			_, err := listen(t, h, nil, true, serverOpts(tc.s)...).Check(t.Context(), &healthpb.HealthCheckRequest{})
			assert.Equal(t, codes.Internal, status.Code(err))
			assert.Zero(t, h.calls.Load(), "a misconfigured server fails closed")
		})
	}
}
