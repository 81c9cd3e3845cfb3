package iongrpc_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var noWait = policy.WithBackoff(policy.Constant(0))

// health is a scripted health service: call n (from 1) of Check or Watch
// fails with fail(n) when that is not nil.
type health struct {
	healthpb.UnimplementedHealthServer
	calls   atomic.Int64
	fail    func(ctx context.Context, n int64) error
	updates int // messages each Watch sends
	block   chan struct{}
}

func (h *health) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	n := h.calls.Add(1)
	if h.fail != nil {
		if err := h.fail(ctx, n); err != nil {
			return nil, err
		}
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (h *health) Watch(req *healthpb.HealthCheckRequest, ss healthpb.Health_WatchServer) error {
	n := h.calls.Add(1)
	if h.fail != nil {
		if err := h.fail(ss.Context(), n); err != nil {
			return err
		}
	}
	for i := range h.updates {
		st := healthpb.HealthCheckResponse_SERVING
		if i%2 == 1 {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if err := ss.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
			return err
		}
		if i == 0 && h.block != nil {
			select { // after the first message, the stream is committed
			case <-h.block:
			case <-ss.Context().Done():
				return ss.Context().Err()
			}
		}
	}
	return nil
}

// listen starts a real gRPC server with h over loopback TCP, or over bufconn
// when buf is true, and returns a connection to it through the client
// interceptors of c.
func listen(t *testing.T, h *health, c *iongrpc.Client, buf bool, sopts ...grpc.ServerOption) healthpb.HealthClient {
	t.Helper()
	var lis net.Listener
	dial := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	target := "passthrough:///bufnet"
	if buf {
		bl := bufconn.Listen(1 << 20)
		lis = bl
		dial = append(dial, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return bl.DialContext(ctx) }))
	} else {
		var err error
		lis, err = net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		target = lis.Addr().String()
	}
	srv := grpc.NewServer(sopts...)
	healthpb.RegisterHealthServer(srv, h)
	done := make(chan struct{})
	// Owner: this test. Exit: srv.Stop in cleanup. Join: <-done.
	go func() { defer close(done); _ = srv.Serve(lis) }()
	if c != nil {
		dial = append(dial, grpc.WithUnaryInterceptor(c.Unary()), grpc.WithStreamInterceptor(c.Stream()))
	}
	conn, err := grpc.NewClient(target, dial...)
	require.NoError(t, err)
	t.Cleanup(func() {
		conn.Close()
		srv.Stop()
		<-done
	})
	return healthpb.NewHealthClient(conn)
}

func transports(t *testing.T, f func(t *testing.T, buf bool)) {
	t.Run("tcp", func(t *testing.T) { f(t, false) })
	t.Run("bufconn", func(t *testing.T) { f(t, true) })
}

func failFirst(n int64, code codes.Code) func(context.Context, int64) error {
	return func(_ context.Context, k int64) error {
		if k <= n {
			return status.Error(code, "scripted failure")
		}
		return nil
	}
}

func TestUnaryRetriesFailures(t *testing.T) {
	transports(t, func(t *testing.T, buf bool) {
		for _, code := range []codes.Code{codes.Unavailable, codes.Internal, codes.Aborted, codes.ResourceExhausted, codes.DeadlineExceeded} {
			h := &health{fail: failFirst(2, code)}
			c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3), noWait))
			require.NoError(t, c.Err())
			resp, err := listen(t, h, c, buf).Check(t.Context(), &healthpb.HealthCheckRequest{})
			require.NoError(t, err, "code %v", code)
			assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status)
			assert.Equal(t, int64(3), h.calls.Load(), "%v is a failure: retried", code)
		}
	})
}

func TestUnaryDoesNotRetryAnswers(t *testing.T) {
	for _, code := range []codes.Code{codes.NotFound, codes.InvalidArgument, codes.PermissionDenied} {
		h := &health{fail: failFirst(1, code)}
		cb := breaker.New("health", breaker.WithConsecutiveFailures(1))
		c := iongrpc.NewClient(iongrpc.WithRetry(noWait), iongrpc.WithBreaker(cb))
		_, err := listen(t, h, c, true).Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, code, status.Code(err))
		assert.Equal(t, int64(1), h.calls.Load(), "%v is an answer: not retried", code)
		assert.Equal(t, breaker.Closed, cb.State(), "%v is a success for the breaker", code)
	}
}

func TestUnaryPushbackIsRejection(t *testing.T) {
	for _, tc := range []struct {
		name string
		fail func(ctx context.Context, n int64) error
	}{
		{"RetryInfo", func(_ context.Context, n int64) error {
			if n > 1 {
				return nil
			}
			st, _ := status.New(codes.ResourceExhausted, "quota").WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(30 * time.Millisecond)})
			return st.Err()
		}},
		{"pushback trailer", func(ctx context.Context, n int64) error {
			if n > 1 {
				return nil
			}
			_ = grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", "30"))
			return status.Error(codes.ResourceExhausted, "quota")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &health{fail: tc.fail}
			cb := breaker.New("health", breaker.WithConsecutiveFailures(1))
			var delays []time.Duration
			var errs []error
			c := iongrpc.NewClient(iongrpc.WithRetry(noWait, policy.WithMaxRetryAfter(time.Second),
				policy.WithOnRetry(func(_ context.Context, _ int, err error, d time.Duration) {
					delays = append(delays, d)
					errs = append(errs, err)
				})), iongrpc.WithBreaker(cb))
			_, err := listen(t, h, c, false).Check(t.Context(), &healthpb.HealthCheckRequest{})
			require.NoError(t, err)
			require.Len(t, delays, 1)
			assert.Equal(t, 30*time.Millisecond, delays[0], "the retry waits the pushback")
			assert.ErrorIs(t, errs[0], iongrpc.ErrServerRejected)
			assert.ErrorIs(t, errs[0], ion.ErrRejected)
			assert.Equal(t, codes.ResourceExhausted, status.Code(errs[0]), "the status is still readable")
			assert.Equal(t, breaker.Closed, cb.State(), "a pushback never counts against the breaker")
		})
	}
}

func TestUnaryPushbackAfterRetriesIsTheStatus(t *testing.T) {
	h := &health{fail: func(ctx context.Context, _ int64) error {
		_ = grpc.SetTrailer(ctx, metadata.Pairs("grpc-retry-pushback-ms", "0"))
		return status.Error(codes.ResourceExhausted, "quota")
	}}
	c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(2), noWait))
	_, err := listen(t, h, c, true).Check(t.Context(), &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.ResourceExhausted, status.Code(err))
	assert.Equal(t, int64(2), h.calls.Load())
}

func TestUnaryBreakerOpens(t *testing.T) {
	h := &health{fail: failFirst(100, codes.Unavailable)}
	cb := breaker.New("health", breaker.WithConsecutiveFailures(2))
	c := iongrpc.NewClient(iongrpc.WithBreaker(cb))
	hc := listen(t, h, c, true)
	for range 2 {
		_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
		assert.Equal(t, codes.Unavailable, status.Code(err))
	}
	_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
	assert.ErrorIs(t, err, breaker.ErrOpen)
	assert.Equal(t, int64(2), h.calls.Load(), "an open breaker does not call")
}

func TestUnaryCallerDeadlineIsNotAFailure(t *testing.T) {
	h := &health{fail: func(ctx context.Context, _ int64) error { <-ctx.Done(); return ctx.Err() }}
	cb := breaker.New("health", breaker.WithConsecutiveFailures(1))
	c := iongrpc.NewClient(iongrpc.WithBreaker(cb), iongrpc.WithRetry(noWait))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	_, err := listen(t, h, c, true).Check(ctx, &healthpb.HealthCheckRequest{})
	assert.Equal(t, codes.DeadlineExceeded, status.Code(err))
	assert.Equal(t, breaker.Closed, cb.State(), "the caller's own deadline is not the server's fault")
	assert.Equal(t, int64(1), h.calls.Load(), "nor retried")
}

func TestUnaryHedge(t *testing.T) {
	release := make(chan struct{})
	h := &health{fail: func(ctx context.Context, n int64) error {
		if n == 1 {
			select { // the first attempt is slow
			case <-release:
			case <-ctx.Done():
			}
			return status.Error(codes.Unavailable, "slow")
		}
		return nil
	}}
	defer close(release)
	c := iongrpc.NewClient(iongrpc.WithHedge(time.Millisecond, 1))
	resp, err := listen(t, h, c, true).Check(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	assert.Equal(t, healthpb.HealthCheckResponse_SERVING, resp.Status, "the hedge's reply is copied into the caller's")
}

func TestStreamRetriedBeforeFirstMessage(t *testing.T) {
	transports(t, func(t *testing.T, buf bool) {
		h := &health{fail: failFirst(2, codes.Unavailable), updates: 3}
		c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3), noWait), iongrpc.WithTimeout(5*time.Second))
		w, err := listen(t, h, c, buf).Watch(t.Context(), &healthpb.HealthCheckRequest{Service: "x"})
		require.NoError(t, err)
		var got []healthpb.HealthCheckResponse_ServingStatus
		for {
			m, err := w.Recv()
			if err == io.EOF {
				break
			}
			require.NoError(t, err)
			got = append(got, m.Status)
		}
		assert.Equal(t, []healthpb.HealthCheckResponse_ServingStatus{1, 2, 1}, got, "every message of the attempt that got through")
		assert.Equal(t, int64(3), h.calls.Load())
	})
}

func TestStreamNotRetriedAfterFirstMessage(t *testing.T) {
	h := &health{updates: 2, block: make(chan struct{})}
	c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3), noWait))
	ctx, cancel := context.WithCancel(t.Context())
	w, err := listen(t, h, c, true).Watch(ctx, &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.NoError(t, err)
	cancel() // the stream fails after its commit point
	_, err = w.Recv()
	assert.Equal(t, codes.Canceled, status.Code(err))
	assert.Equal(t, int64(1), h.calls.Load(), "a committed stream is never retried")
}

func TestStreamOutlivesTimeout(t *testing.T) {
	h := &health{updates: 2, block: make(chan struct{})}
	c := iongrpc.NewClient(iongrpc.WithTimeout(time.Hour), iongrpc.WithRetry(noWait))
	w, err := listen(t, h, c, true).Watch(t.Context(), &healthpb.HealthCheckRequest{})
	require.NoError(t, err)
	_, err = w.Recv()
	require.NoError(t, err)
	close(h.block) // the second message comes after the pipeline returned
	m, err := w.Recv()
	require.NoError(t, err, "the pipeline's timeout ctx ended, the stream did not")
	assert.Equal(t, healthpb.HealthCheckResponse_NOT_SERVING, m.Status)
}

func TestClientBadInput(t *testing.T) {
	cases := []struct {
		name  string
		c     *iongrpc.Client
		param string
	}{
		{"nil option", iongrpc.NewClient(nil), "option 0"},
		{"nil breaker", iongrpc.NewClient(iongrpc.WithBreaker(nil)), "WithBreaker"},
		{"nil limiter", iongrpc.NewClient(iongrpc.WithLimiter(nil)), "WithLimiter"},
		{"nil bulkhead", iongrpc.NewClient(iongrpc.WithBulkhead(nil)), "WithBulkhead"},
		{"zero timeout", iongrpc.NewClient(iongrpc.WithTimeout(0)), "WithTimeout"},
		{"bad hedge", iongrpc.NewClient(iongrpc.WithHedge(0, 0)), "WithHedge"},
		{"nil classifier", iongrpc.NewClient(iongrpc.WithClassifier(nil)), "WithClassifier"},
		{"bad retry", iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(0))), "WithAttempts"},
		{"pipelines and layers", iongrpc.NewClient(iongrpc.WithRetry(), iongrpc.WithPipelines(nil, nil)), "WithPipelines"},
		{"zero value", &iongrpc.Client{}, "Client"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			policytest.AssertInvalidConfig(t, tc.c.Err(), tc.param)
			h := &health{}
			hc := listen(t, h, tc.c, true)
			_, err := hc.Check(t.Context(), &healthpb.HealthCheckRequest{})
			policytest.AssertInvalidConfig(t, err, tc.param)
			_, err = hc.Watch(t.Context(), &healthpb.HealthCheckRequest{})
			policytest.AssertInvalidConfig(t, err, tc.param)
			assert.Zero(t, h.calls.Load(), "a misconfigured client fails closed")
		})
	}
}

var _ = errors.New
