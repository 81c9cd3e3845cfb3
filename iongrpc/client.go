package iongrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// Client holds the client interceptors: [Client.Unary] and [Client.Stream]
// run every call through an Ion pipeline. Build it with [NewClient] and
// install both on the connection:
//
//	c := iongrpc.NewClient(iongrpc.WithRetry(policy.WithAttempts(3)), iongrpc.WithTimeout(time.Second))
//	conn, err := grpc.NewClient(target, grpc.WithUnaryInterceptor(c.Unary()), grpc.WithStreamInterceptor(c.Stream()))
//
// A Client is safe for concurrent use by multiple goroutines.
type Client struct {
	unary    *policy.Pipeline[proto.Message]
	stream   *policy.Pipeline[grpc.ClientStream]
	classify func(err error) policy.Outcome
	err      error
}

// ClientOption configures [NewClient].
type ClientOption interface{ applyClient(*clientConfig) }

type clientConfig struct {
	retry    []policy.RetryOption
	hasRetry bool
	hedge    time.Duration
	hedges   int
	cb       *breaker.Breaker
	lim      limit.Limiter
	limOpts  []limit.PolicyOption
	bulkhead *sem.Weighted
	timeout  time.Duration
	unary    *policy.Pipeline[proto.Message]
	stream   *policy.Pipeline[grpc.ClientStream]
	classify func(err error) policy.Outcome
	layers   int
	err      error
}

func (c *clientConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type clientOption func(*clientConfig)

func (o clientOption) applyClient(c *clientConfig) { o(c) }

func layer(f func(*clientConfig)) ClientOption {
	return clientOption(func(c *clientConfig) { c.layers++; f(c) })
}

// WithRetry retries failed calls with a policy.Retry configured by opts
// (default 3 attempts, exponential backoff from 100 ms). A pushback is
// retried no sooner than it asks. Streams are retried only before their
// first response message (see [Client.Stream]). Retry only methods that are
// safe to repeat: gRPC does not say which are.
func WithRetry(opts ...policy.RetryOption) ClientOption {
	return layer(func(c *clientConfig) { c.retry, c.hasRetry = opts, true })
}

// WithHedge sends up to n extra attempts of a slow call, the first after
// delay, and keeps the first good answer; the others are cancelled. Hedged
// unary calls need proto replies (each attempt gets its own). A negative
// delay or an n below 1 is invalid.
func WithHedge(delay time.Duration, n int) ClientOption {
	return layer(func(c *clientConfig) {
		if delay < 0 || n < 1 {
			c.fail(ion.NewConfigError("iongrpc", "WithHedge", "delay must not be negative and n at least 1, got %v and %d", delay, n))
			return
		}
		c.hedge, c.hedges = delay, n
	})
}

// WithBreaker guards every attempt with cb. A nil cb is invalid.
func WithBreaker(cb *breaker.Breaker) ClientOption {
	return layer(func(c *clientConfig) {
		if cb == nil {
			c.fail(ion.NewConfigError("iongrpc", "WithBreaker", "nil *breaker.Breaker"))
			return
		}
		c.cb = cb
	})
}

// WithLimiter admits every attempt through lim with the limit.Policy
// options opts (limit.WithMaxWait to pace instead of refusing). A nil lim is
// invalid.
func WithLimiter(lim limit.Limiter, opts ...limit.PolicyOption) ClientOption {
	return layer(func(c *clientConfig) {
		if lim == nil {
			c.fail(ion.NewConfigError("iongrpc", "WithLimiter", "nil limit.Limiter"))
			return
		}
		c.lim, c.limOpts = lim, opts
	})
}

// WithBulkhead bounds the attempts in flight by the capacity of s. A nil s
// is invalid.
func WithBulkhead(s *sem.Weighted) ClientOption {
	return layer(func(c *clientConfig) {
		if s == nil {
			c.fail(ion.NewConfigError("iongrpc", "WithBulkhead", "nil *sem.Weighted"))
			return
		}
		c.bulkhead = s
	})
}

// WithTimeout bounds each attempt of a unary call, and each stream until its
// first response message, to d; it never cuts a stream after that. d must be
// positive.
func WithTimeout(d time.Duration) ClientOption {
	return layer(func(c *clientConfig) {
		if d <= 0 {
			c.fail(ion.NewConfigError("iongrpc", "WithTimeout", "must be positive, got %v", d))
			return
		}
		c.timeout = d
	})
}

// WithPipelines replaces the pipelines built from the layer options (which
// cannot be combined with it) with unary for unary calls and stream for
// streams. Either may be nil to leave that kind of call without policies.
func WithPipelines(unary *policy.Pipeline[proto.Message], stream *policy.Pipeline[grpc.ClientStream]) ClientOption {
	return clientOption(func(c *clientConfig) {
		c.unary, c.stream = unary, stream
		if unary == nil {
			c.unary = policy.Compose[proto.Message]()
		}
		if stream == nil {
			c.stream = policy.Compose[grpc.ClientStream]()
		}
	})
}

// WithClassifier replaces [Classify]. It decides pushbacks too: a classifier
// that calls a ResourceExhausted error a Success or a Failure keeps it from
// becoming a rejection. A nil cl is invalid.
func WithClassifier(cl func(err error) policy.Outcome) ClientOption {
	return clientOption(func(c *clientConfig) {
		if cl == nil {
			c.fail(ion.NewConfigError("iongrpc", "WithClassifier", "nil classifier"))
			return
		}
		c.classify = cl
	})
}

// NewClient returns the client interceptors configured by opts. The layers
// run in this order, outermost first: Retry → Hedge → breaker → limiter →
// bulkhead → Timeout → the attempt.
//
// A nil or invalid option, or WithPipelines combined with a layer option,
// makes every call fail at once with an error matching ion.ErrInvalidConfig
// that names the parameter ([Client.Err]). NewClient never panics.
func NewClient(opts ...ClientOption) *Client {
	var c clientConfig
	for i, o := range opts {
		if o == nil {
			c.fail(ion.NewConfigError("iongrpc", fmt.Sprintf("option %d", i), "nil option"))
			continue
		}
		o.applyClient(&c)
	}
	cl := &Client{classify: c.classify}
	if cl.classify == nil {
		cl.classify = Classify
	}
	if c.unary != nil {
		if c.layers > 0 {
			c.fail(ion.NewConfigError("iongrpc", "WithPipelines", "cannot be combined with layer options such as WithRetry"))
		}
		cl.unary, cl.stream = c.unary, c.stream
	} else {
		cl.unary = build[proto.Message](&c)
		cl.stream = build[grpc.ClientStream](&c)
	}
	for _, p := range []error{cl.unary.Err(), cl.stream.Err()} {
		c.fail(p)
	}
	cl.err = c.err
	classify := cl.classify
	cl.unary = cl.unary.WithClassifier(func(_ proto.Message, err error) policy.Outcome { return classify(err) })
	cl.stream = cl.stream.WithClassifier(func(_ grpc.ClientStream, err error) policy.Outcome { return classify(err) }).
		WithDiscard(func(s grpc.ClientStream) {
			if st, ok := s.(*attemptStream); ok {
				st.cancel(errDiscarded)
			}
		})
	return cl
}

var errDiscarded = errors.New("iongrpc: attempt discarded")

func build[T any](c *clientConfig) *policy.Pipeline[T] {
	var layers []policy.Policy[T]
	if c.hasRetry {
		layers = append(layers, policy.Retry[T](c.retry...))
	}
	if c.hedges > 0 {
		layers = append(layers, policy.Hedge[T](c.hedge, policy.WithHedges(c.hedges)))
	}
	if c.cb != nil {
		layers = append(layers, breaker.Policy[T](c.cb))
	}
	if c.lim != nil {
		layers = append(layers, limit.Policy[T](c.lim, c.limOpts...))
	}
	if c.bulkhead != nil {
		layers = append(layers, sem.Policy[T](c.bulkhead))
	}
	if c.timeout > 0 {
		layers = append(layers, policy.Timeout[T](c.timeout))
	}
	for _, l := range layers {
		if e, ok := l.(interface{ Err() error }); ok && e.Err() != nil {
			c.fail(e.Err())
		}
	}
	return policy.Compose(layers...)
}

// Err returns the configuration error that makes c fail closed, or nil. A
// zero Client, not made by NewClient, fails closed too.
func (c *Client) Err() error {
	if c.err == nil && c.unary == nil {
		return errZeroClient
	}
	return c.err
}

var errZeroClient = ion.NewConfigError("iongrpc", "Client", "zero value: use NewClient")

// Unary returns the unary client interceptor: each call runs through the
// pipeline, each attempt is one invocation. A ResourceExhausted answer with a
// pushback becomes a [*RejectedError] for the policies (kept from the
// breaker, retried after its delay); the caller gets the server's status
// error when the policies give up. Attempts after the first, and concurrent
// hedges, receive into a fresh reply of the same proto type, copied into
// the caller's reply at the end; a reply that is not a proto message is
// written in place, so do not hedge such calls.
func (c *Client) Unary() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if err := c.Err(); err != nil {
			return err
		}
		ctx = withPriority(ctx)
		msg, isProto := reply.(proto.Message)
		var attempts atomic.Int32
		classify := c.classify
		won, err := c.unary.Run(ctx, func(actx context.Context) (proto.Message, error) {
			into := msg
			if n := attempts.Add(1); n > 1 && isProto {
				into = msg.ProtoReflect().New().Interface()
			}
			var trailer metadata.MD
			var target any = into
			if !isProto {
				target = reply
			}
			err := invoker(actx, method, req, target, cc, append(opts, grpc.Trailer(&trailer))...)
			awaitOwnDeadline(ctx, actx, err)
			if err != nil && actx.Err() == nil && classify(err) == policy.Failure {
				err = rejection(err, trailer)
			}
			if err != nil {
				return nil, err
			}
			return into, nil
		})
		if isProto && won != nil && won != msg {
			proto.Reset(msg)
			proto.Merge(msg, won)
		}
		return unwrapRejection(err)
	}
}

// awaitOwnDeadline waits, when err is a DeadlineExceeded from the server for
// the caller's own deadline (the attempt had no shorter one), until that
// deadline has passed here too: the server's clock saw it first, and the
// outcome must be Ignored (the caller's deadline), not a Failure of the
// server. The wait is bounded by the network's latency, at most 100 ms.
func awaitOwnDeadline(ctx, actx context.Context, err error) {
	if err == nil || ctx.Err() != nil || status.Code(err) != codes.DeadlineExceeded {
		return
	}
	dl, ok := ctx.Deadline()
	adl, _ := actx.Deadline()
	if !ok || !adl.Equal(dl) || time.Until(dl) > 100*time.Millisecond {
		return
	}
	<-ctx.Done()
}

// unwrapRejection gives the caller the server's status rather than the
// policies' wrapping when the last answer was a pushback: status.Code works
// on it directly. Other errors keep their wrapping.
func unwrapRejection(err error) error {
	var rej *RejectedError
	if err != nil && errors.As(err, &rej) {
		return rej.Status.Err()
	}
	return err
}

// Stream returns the stream client interceptor. A stream whose client sends
// one request (a server-streaming method such as Health.Watch) runs through
// the pipeline until its first response message, the commit point: the
// request is kept, and an attempt that fails before any response is
// retried or hedged by opening a new stream and sending it again. After the
// first message (or a clean end of the stream) the stream is the caller's
// and is never retried. Its ctx then ends with the caller's ctx or when the
// stream ends, never when the pipeline returns.
//
// A client-streaming or bidirectional stream runs only its opening through
// the pipeline: a limiter, a bulkhead or a breaker gate it, and a failure to
// open is retried, but nothing after it.
func (c *Client) Stream() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if err := c.Err(); err != nil {
			return nil, err
		}
		ctx = withPriority(ctx)
		open := func(pctx context.Context) (*attemptStream, error) {
			return openAttempt(ctx, pctx, func(actx context.Context) (grpc.ClientStream, error) {
				return streamer(actx, desc, cc, method, opts...)
			})
		}
		if desc.ClientStreams {
			s, err := c.stream.Run(ctx, func(pctx context.Context) (grpc.ClientStream, error) {
				a, err := open(pctx)
				if err != nil {
					return nil, err
				}
				a.commit()
				return a, nil
			})
			return s, unwrapRejection(err)
		}
		return &lazyStream{ctx: ctx, c: c, open: open}, nil
	}
}

// attemptStream is one attempt's stream, with a ctx of its own that derives
// from the caller's ctx and follows the pipeline's ctx only until commit.
type attemptStream struct {
	grpc.ClientStream
	cancel context.CancelCauseFunc
	stop   func() bool // unlinks the pipeline's ctx
}

func openAttempt(ctx, pctx context.Context, open func(context.Context) (grpc.ClientStream, error)) (*attemptStream, error) {
	actx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(pctx, func() { cancel(context.Cause(pctx)) })
	s, err := open(actx)
	if err != nil {
		stop()
		cancel(err)
		return nil, err
	}
	return &attemptStream{ClientStream: s, cancel: cancel, stop: stop}, nil
}

// commit detaches the stream from the pipeline's ctx.
func (a *attemptStream) commit() { a.stop() }

// RecvMsg ends the attempt's ctx when the stream ends.
func (a *attemptStream) RecvMsg(m any) error {
	err := a.ClientStream.RecvMsg(m)
	if err != nil {
		a.cancel(nil)
	}
	return err
}

// lazyStream is a one-request stream whose attempts run through the
// pipeline at the first receive: SendMsg and CloseSend are recorded until
// then.
type lazyStream struct {
	ctx  context.Context
	c    *Client
	open func(pctx context.Context) (*attemptStream, error)

	// mu guards the fields below.
	mu     sync.Mutex
	req    any            // the request, cloned if it is a proto message
	closed bool           // CloseSend was called
	s      *attemptStream // the committed stream, once there is one
	err    error          // the pipeline's error, once it failed
}

var errTooManyMessages = errors.New("iongrpc: a server-streaming call sends one request")

func (l *lazyStream) SendMsg(m any) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s.SendMsg(m)
	}
	if l.req != nil {
		return errTooManyMessages
	}
	if pm, ok := m.(proto.Message); ok {
		m = proto.Clone(pm)
	}
	l.req = m
	return nil
}

func (l *lazyStream) CloseSend() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil {
		return l.s.CloseSend()
	}
	l.closed = true
	return nil
}

// RecvMsg runs the pipeline on the first call: each attempt opens a stream,
// sends the request, closes the send side if the caller did, and receives
// the first message. Later calls receive from the committed stream.
func (l *lazyStream) RecvMsg(m any) error {
	s, err := l.commit(m)
	if err != nil {
		return err
	}
	if s == nil {
		return nil // the first message was received by the attempt that won
	}
	return s.RecvMsg(m)
}

// commit returns the committed stream, running the pipeline the first time
// (then it returns a nil stream and nil error when the first message was
// received into m).
func (l *lazyStream) commit(m any) (*attemptStream, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.s != nil || l.err != nil {
		return l.s, l.err
	}
	req, closed := l.req, l.closed
	mp, isProto := m.(proto.Message)
	var attempts atomic.Int32
	var firstMsg sync.Map // attempt stream → its first message
	classify := l.c.classify
	v, err := l.c.stream.Run(l.ctx, func(pctx context.Context) (grpc.ClientStream, error) {
		a, err := l.open(pctx)
		if err != nil {
			return nil, err
		}
		fail := func(err error) (grpc.ClientStream, error) {
			if pctx.Err() == nil && classify(err) == policy.Failure {
				err = rejection(err, a.Trailer())
			}
			a.stop()
			a.cancel(err)
			return nil, err
		}
		if req != nil {
			if err := a.ClientStream.SendMsg(req); err != nil && err != io.EOF {
				return fail(err)
			}
		}
		if closed {
			if err := a.ClientStream.CloseSend(); err != nil {
				return fail(err)
			}
		}
		into := m
		if attempts.Add(1) > 1 && isProto {
			into = mp.ProtoReflect().New().Interface()
		}
		err = a.ClientStream.RecvMsg(into)
		awaitOwnDeadline(l.ctx, pctx, err)
		switch {
		case err == io.EOF:
			// A clean end with no message: the server answered.
			firstMsg.Store(a, io.EOF)
		case err != nil:
			return fail(err)
		default:
			firstMsg.Store(a, into)
		}
		// Detached before the pipeline's policies return and cancel their
		// ctxs: from here the stream lives as long as the caller wants it.
		a.commit()
		return a, nil
	})
	if err != nil {
		l.err = unwrapRejection(err)
		return nil, l.err
	}
	a, ok := v.(*attemptStream)
	if !ok {
		l.err = errForeignStream
		return nil, l.err
	}
	l.s = a
	got, _ := firstMsg.Load(a)
	if got == io.EOF {
		l.err = io.EOF
		return nil, io.EOF
	}
	if pm, ok := got.(proto.Message); ok && isProto && pm != mp {
		proto.Reset(mp)
		proto.Merge(mp, pm)
	}
	return nil, nil
}

func (l *lazyStream) Header() (metadata.MD, error) {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	if s == nil {
		return nil, errNotStarted
	}
	return s.Header()
}

func (l *lazyStream) Trailer() metadata.MD {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Trailer()
}

func (l *lazyStream) Context() context.Context {
	l.mu.Lock()
	s := l.s
	l.mu.Unlock()
	if s == nil {
		return l.ctx
	}
	return s.Context()
}

var errForeignStream = errors.New("iongrpc: the stream pipeline returned a stream that none of its attempts opened")

var errNotStarted = errors.New("iongrpc: the stream starts at its first RecvMsg")
