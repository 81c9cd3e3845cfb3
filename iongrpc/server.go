package iongrpc

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/sem"
)

// KeyFunc returns the key a call is rate limited by, from its ctx and its
// full method name ("/grpc.health.v1.Health/Check"). An error answers the
// call InvalidArgument.
type KeyFunc func(ctx context.Context, method string) (string, error)

// MethodKey keys calls by their full method name: one limit per method.
func MethodKey(_ context.Context, method string) (string, error) { return method, nil }

// PeerKey keys calls by the IP address of the peer (the TCP address without
// its port; the whole address for other transports, such as bufconn's).
func PeerKey(ctx context.Context, _ string) (string, error) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "", status.Error(codes.InvalidArgument, "iongrpc: no peer")
	}
	a := p.Addr.String()
	for i := len(a) - 1; i >= 0; i-- {
		if a[i] == ':' {
			if _, err := strconv.Atoi(a[i+1:]); err == nil {
				a = a[:i]
			}
			break
		}
	}
	if len(a) > 1 && a[0] == '[' && a[len(a)-1] == ']' {
		a = a[1 : len(a)-1]
	}
	return a, nil
}

// keyCtx holds a call's rate-limit key in its ctx.
type keyCtx struct{}

// LimitKey returns the rate-limit key the server interceptors computed for
// the call whose ctx is ctx, or "" outside them. A keyed limiter reads its
// key with it: keyed.By(iongrpc.LimitKey).
func LimitKey(ctx context.Context) string {
	k, _ := ctx.Value(keyCtx{}).(string)
	return k
}

// Server holds the server interceptors built by [NewServer]:
//
//	s := iongrpc.NewServer(iongrpc.WithRateLimit(keyed.By(iongrpc.LimitKey), iongrpc.PeerKey))
//	srv := grpc.NewServer(grpc.UnaryInterceptor(s.Unary()), grpc.StreamInterceptor(s.Stream()))
//
// Every call, in this order: a panic in the handler is recovered and
// answered Internal (always on); the concurrency limit sheds calls over it
// with ResourceExhausted; the rate limit refuses calls over it with
// ResourceExhausted. Refusals carry a RetryInfo detail and the
// grpc-retry-pushback-ms trailer, which Ion's client (and grpc-go's own
// retry) honour. A Server is safe for concurrent use.
type Server struct {
	lim        limit.Limiter
	key        KeyFunc
	slots      *sem.Weighted
	retryAfter time.Duration
	report     func(ctx context.Context, method string, p *ion.PanicError)
	trusted    func(ctx context.Context) bool // WithPriority: whose priority to believe
	err        error
}

// ServerOption configures [NewServer].
type ServerOption interface{ applyServer(*Server) }

type serverOption func(*Server)

func (o serverOption) applyServer(s *Server) { o(s) }

func (s *Server) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// WithRateLimit admits each call through lim, keyed by key ([MethodKey],
// [PeerKey] or your own). A call over the limit is answered
// ResourceExhausted with the limiter's delay. A nil lim or key is invalid.
func WithRateLimit(lim limit.Limiter, key KeyFunc) ServerOption {
	return serverOption(func(s *Server) {
		if lim == nil || key == nil {
			s.fail(ion.NewConfigError("iongrpc", "WithRateLimit", "nil limiter or key function"))
			return
		}
		s.lim, s.key = lim, key
	})
}

// WithConcurrencyLimit runs at most the capacity of slots calls at once and
// sheds the others at once with ResourceExhausted and a pushback of
// retryAfter. A nil slots or a negative retryAfter is invalid.
func WithConcurrencyLimit(slots *sem.Weighted, retryAfter time.Duration) ServerOption {
	return serverOption(func(s *Server) {
		switch {
		case slots == nil || retryAfter < 0:
			s.fail(ion.NewConfigError("iongrpc", "WithConcurrencyLimit", "nil semaphore or negative retryAfter"))
		case slots.Err() != nil:
			s.fail(slots.Err())
		default:
			s.slots, s.retryAfter = slots, retryAfter
		}
	})
}

// WithPanicReport sends each recovered panic to report. Without it panics
// are logged with slog.Default at level Error. A nil report is invalid.
func WithPanicReport(report func(ctx context.Context, method string, p *ion.PanicError)) ServerOption {
	return serverOption(func(s *Server) {
		if report == nil {
			s.fail(ion.NewConfigError("iongrpc", "WithPanicReport", "nil function"))
			return
		}
		s.report = report
	})
}

// NewServer returns the server interceptors configured by opts. A nil or
// invalid option makes every call fail with Internal and a message naming
// the parameter ([Server.Err]); NewServer never panics.
func NewServer(opts ...ServerOption) *Server {
	s := &Server{}
	for i, o := range opts {
		if o == nil {
			s.fail(ion.NewConfigError("iongrpc", fmt.Sprintf("option %d", i), "nil option"))
			continue
		}
		o.applyServer(s)
	}
	if s.report == nil {
		s.report = func(ctx context.Context, method string, p *ion.PanicError) {
			slog.Default().LogAttrs(ctx, slog.LevelError, "iongrpc: handler panicked",
				slog.String("method", method), slog.Any("panic", p.Value), slog.String("stack", string(p.Stack)))
		}
	}
	return s
}

// Err returns the configuration error that makes s fail closed, or nil. A
// zero Server, not made by NewServer, fails closed too.
func (s *Server) Err() error {
	if s.err == nil && s.report == nil {
		return errZeroServer
	}
	return s.err
}

var errZeroServer = ion.NewConfigError("iongrpc", "Server", "zero value: use NewServer")

// Unary returns the unary server interceptor.
func (s *Server) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		ctx, release, err := s.admit(ctx, info.FullMethod, func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) })
		if err != nil {
			return nil, err
		}
		defer release()
		defer s.recover(ctx, info.FullMethod, &err)
		return handler(ctx, req)
	}
}

// Stream returns the stream server interceptor.
func (s *Server) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		ctx, release, err := s.admit(ss.Context(), info.FullMethod, ss.SetTrailer)
		if err != nil {
			return err
		}
		defer release()
		defer s.recover(ctx, info.FullMethod, &err)
		if ctx != ss.Context() {
			ss = &keyedStream{ServerStream: ss, ctx: ctx}
		}
		return handler(srv, ss)
	}
}

type keyedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (k *keyedStream) Context() context.Context { return k.ctx }

func noRelease() {}

// admit applies the concurrency and rate limits to a call. It returns the
// ctx to serve it with and the release to defer.
func (s *Server) admit(ctx context.Context, method string, trailer func(metadata.MD)) (context.Context, func(), error) {
	if err := s.Err(); err != nil {
		return ctx, noRelease, status.Error(codes.Internal, err.Error())
	}
	ctx = s.priorityFrom(ctx)
	release := noRelease
	if s.slots != nil {
		if !s.slots.TryAcquire(1) {
			return ctx, noRelease, refuse(s.retryAfter, "iongrpc: server overloaded", trailer)
		}
		release = func() { _ = s.slots.Release(1) }
	}
	if s.lim != nil {
		k, err := s.key(ctx, method)
		if err != nil {
			release()
			if _, ok := status.FromError(err); ok {
				return ctx, noRelease, err
			}
			return ctx, noRelease, status.Error(codes.InvalidArgument, "iongrpc: rate limit key: "+err.Error())
		}
		ctx = context.WithValue(ctx, keyCtx{}, k)
		if err := s.lim.Admit(ctx, 0); err != nil {
			release()
			d, ok := ion.RetryAfter(err)
			if !ok {
				return ctx, noRelease, status.Error(codes.Unavailable, "iongrpc: rate limiter: "+err.Error())
			}
			return ctx, noRelease, refuse(d, "iongrpc: rate limited", trailer)
		}
	}
	return ctx, release, nil
}

// refuse returns ResourceExhausted with a RetryInfo detail of d, and sets
// the pushback trailer.
func refuse(d time.Duration, msg string, trailer func(metadata.MD)) error {
	ms := max(d.Milliseconds(), 1)
	if d > 0 && d%time.Millisecond != 0 {
		ms = d.Milliseconds() + 1 // rounded up: never invite a retry too early
	}
	trailer(metadata.Pairs(pushbackKey, strconv.FormatInt(ms, 10)))
	st, err := status.New(codes.ResourceExhausted, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Duration(ms) * time.Millisecond)})
	if err != nil {
		return status.Error(codes.ResourceExhausted, msg)
	}
	return st.Err()
}

// recover turns a panic of the handler into Internal, reported.
func (s *Server) recover(ctx context.Context, method string, err *error) {
	v := recover()
	if v == nil {
		return
	}
	p := ion.NewPanicError(v)
	s.report(ctx, method, p)
	*err = status.Error(codes.Internal, "iongrpc: handler panicked")
}
