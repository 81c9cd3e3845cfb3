// Command grpc shows Ion on both sides of a gRPC connection, with the
// health service that ships with grpc-go (no protoc step): the server's
// interceptors rate limit each peer, shed load and turn panics into
// Internal; the client's interceptors retry failures and honour the server's
// pushback, and retry a stream only until its first message.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/iongrpc"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

func main() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
	dial := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", lis.Addr().String())
	}
	if err := run(context.Background(), os.Stdout, lis, dial); err != nil {
		fmt.Fprintln(os.Stderr, "grpc:", err)
		os.Exit(1)
	}
}

// service is a health service that misbehaves on a script: Check is
// Unavailable for its first two calls and panics on the service "boom";
// Watch is Unavailable once, then streams three statuses.
type service struct {
	healthpb.UnimplementedHealthServer
	checks, watches atomic.Int64
}

func (s *service) Check(_ context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	if req.Service == "boom" {
		panic("nil map write in Check")
	}
	if s.checks.Add(1) <= 2 {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

func (s *service) Watch(_ *healthpb.HealthCheckRequest, ss healthpb.Health_WatchServer) error {
	if s.watches.Add(1) == 1 {
		return status.Error(codes.Unavailable, "not ready to stream")
	}
	for _, st := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING} {
		if err := ss.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
			return err
		}
	}
	return nil
}

// run serves the service on lis and talks to it through dial.
func run(ctx context.Context, w io.Writer, lis net.Listener, dial func(context.Context, string) (net.Conn, error)) error {
	// Server: at most 8 calls at once, a burst of 12 calls per peer and
	// then one a minute, panics answered Internal and reported.
	perPeer := limit.NewKeyed[string](limit.PerMinute(1), 12)
	srvSide := iongrpc.NewServer(
		iongrpc.WithConcurrencyLimit(sem.NewWeighted(8), time.Second),
		iongrpc.WithRateLimit(perPeer.By(iongrpc.LimitKey), iongrpc.PeerKey),
		iongrpc.WithPanicReport(func(_ context.Context, method string, p *ion.PanicError) {
			fmt.Fprintf(w, "server: recovered a panic in %s: %v\n", method, p.Value)
		}),
	)
	if err := srvSide.Err(); err != nil {
		return err
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(srvSide.Unary()), grpc.StreamInterceptor(srvSide.Stream()))
	svc := &service{}
	healthpb.RegisterHealthServer(srv, svc)
	served := make(chan error, 1)
	// Owner: run. Exit: srv.Stop below. Join: <-served.
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()

	// Client: 3 attempts, a breaker, 1s per attempt.
	cb := breaker.New("health", breaker.WithConsecutiveFailures(5))
	cliSide := iongrpc.NewClient(
		iongrpc.WithRetry(policy.WithAttempts(3), policy.WithBackoff(policy.Constant(20*time.Millisecond)),
			policy.WithMaxRetryAfter(time.Second), // a longer pushback is not waited out
			policy.WithOnRetry(func(_ context.Context, attempt int, err error, _ time.Duration) {
				fmt.Fprintf(w, "client:   attempt %d failed (%s), retrying\n", attempt-1, describe(err))
			})),
		iongrpc.WithBreaker(cb),
		iongrpc.WithTimeout(time.Second),
	)
	conn, err := grpc.NewClient("passthrough:///health",
		grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(cliSide.Unary()),
		grpc.WithStreamInterceptor(cliSide.Stream()))
	if err != nil {
		return err
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)

	fmt.Fprintln(w, "1. Check while the server warms up: two Unavailable answers are retried")
	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	fmt.Fprintf(w, "   → %v %s\n", resp.GetStatus(), describe(err))

	fmt.Fprintln(w, "2. Watch: the stream fails before its first message, so it is opened again")
	stream, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return err
	}
	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "   → %v\n", m.Status)
	}

	fmt.Fprintln(w, "3. A handler panics: the server answers Internal and keeps serving")
	_, err = health.Check(ctx, &healthpb.HealthCheckRequest{Service: "boom"})
	fmt.Fprintf(w, "   → %s\n", describe(err))

	fmt.Fprintln(w, "4. Six more Checks: this peer has spent 8 of its burst of 12, so the last two are refused")
	fmt.Fprintln(w, "   with a pushback of a minute, too long for the client's retry: it gives up at once,")
	fmt.Fprintln(w, "   and its breaker ignores the refusals instead of counting them as failures")
	for i := range 6 {
		_, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
		line := describe(err)
		if d, ok := iongrpc.Pushback(err, nil); ok {
			line += fmt.Sprintf(", pushback %v", d.Round(time.Minute))
		}
		fmt.Fprintf(w, "   check %d → %s\n", i+1, line)
	}
	s := cb.Snapshot()
	fmt.Fprintf(w, "client breaker %v: %d successes, %d failures, %d ignored\n", s.State, s.Successes, s.Failures, s.Ignored)
	return nil
}

// describe names an outcome without timings, so the output is the same on
// every run.
func describe(err error) string {
	var rej *iongrpc.RejectedError
	switch {
	case err == nil:
		return "OK"
	case errors.As(err, &rej):
		return "ResourceExhausted with a pushback"
	case errors.Is(err, ion.ErrRejected):
		return "refused by the client's own policies: " + err.Error()
	default:
		return status.Code(err).String()
	}
}
