package ionhttp

import (
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/sem"
)

// TransportOption configures [NewTransport] and [NewClient].
type TransportOption interface{ applyTransport(*transportConfig) }

type transportConfig struct {
	retry       []policy.RetryOption
	hasRetry    bool
	hedge       time.Duration
	hedges      int
	hostBreaker func(host string) *breaker.Breaker
	cb          *breaker.Breaker
	lim         limit.Limiter
	limOpts     []limit.PolicyOption
	follow      *ServerLimits
	hostBulk    int64
	bulkhead    *sem.Weighted
	timeout     time.Duration
	bodyTimeout time.Duration
	maxHosts    int
	hostTTL     time.Duration
	custom      *policy.Pipeline[*http.Response]
	classify    policy.Classifier[*http.Response]
	unsafe      bool
	layers      int // layer options given, to refuse them beside WithPipeline
	err         error
}

func (c *transportConfig) fail(err error) {
	if c.err == nil {
		c.err = err
	}
}

type transportOption func(*transportConfig)

func (o transportOption) applyTransport(c *transportConfig) { o(c) }

func layer(f func(*transportConfig)) TransportOption {
	return transportOption(func(c *transportConfig) { c.layers++; f(c) })
}

// WithRetry retries failed attempts with a [Retry] configured by opts
// (policy.WithAttempts, policy.WithBackoff, ...; default 3 attempts,
// exponential backoff from 100 ms). Failures are connection errors,
// timeouts and 500, 502, 503 and 504 answers (see [Classify]); a 429 is
// retried no sooner than its Retry-After. Requests that are not safe to
// repeat are never retried (see [Replayable]).
func WithRetry(opts ...policy.RetryOption) TransportOption {
	return layer(func(c *transportConfig) { c.retry, c.hasRetry = opts, true })
}

// WithHedge sends up to n extra attempts of a slow request, the first after
// delay, and keeps the first good answer; the losers are cancelled and their
// responses drained and closed. A loser cancelled before its headers costs
// its connection over HTTP/1.1, which cannot abandon a request otherwise
// (over HTTP/2 only its stream is reset), so hedge only what is worth it.
// Requests that are not safe to repeat are never hedged. A negative delay or an n below 1 is invalid.
func WithHedge(delay time.Duration, n int) TransportOption {
	return layer(func(c *transportConfig) {
		if delay < 0 || n < 1 {
			c.fail(ion.NewConfigError("ionhttp", "WithHedge", "delay must not be negative and n at least 1, got %v and %d", delay, n))
			return
		}
		c.hedge, c.hedges = delay, n
	})
}

// WithBreaker guards every attempt with cb, shared by all hosts. 429s and
// the transport's own rejections never count against it; other 4xx answers
// count as successes. A nil cb is invalid.
func WithBreaker(cb *breaker.Breaker) TransportOption {
	return layer(func(c *transportConfig) {
		if cb == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithBreaker", "nil *breaker.Breaker"))
			return
		}
		c.cb = cb
	})
}

// WithHostBreaker gives each destination host (the URL's host:port) a
// breaker of its own, built by build on the host's first request, so one
// sick host does not open the circuit for the others. The transport holds
// the breakers of at most [WithHosts] hosts. A nil build, or a build that
// returns nil, is invalid (the latter fails that host's requests).
func WithHostBreaker(build func(host string) *breaker.Breaker) TransportOption {
	return layer(func(c *transportConfig) {
		if build == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithHostBreaker", "nil build function"))
			return
		}
		c.hostBreaker = build
	})
}

// WithLimiter admits every attempt through lim (a token bucket, a keyed or
// distributed limiter), with the [limit.Policy] options opts: without
// limit.WithMaxWait an attempt over the rate is refused at once; with it the
// attempt waits up to that long, which is what most clients want. A nil lim
// is invalid.
func WithLimiter(lim limit.Limiter, opts ...limit.PolicyOption) TransportOption {
	return layer(func(c *transportConfig) {
		if lim == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithLimiter", "nil limit.Limiter"))
			return
		}
		c.lim, c.limOpts = lim, opts
	})
}

// WithServerLimits makes the transport follow the limits the servers
// publish: every response's RateLimit, X-RateLimit-* and Retry-After fields
// feed s, and every attempt is admitted by s first, so the client slows
// down before it is refused (see [ServerLimits]). A nil s is invalid.
func WithServerLimits(s *ServerLimits) TransportOption {
	return layer(func(c *transportConfig) {
		if s == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithServerLimits", "nil *ServerLimits"))
			return
		}
		c.follow = s
	})
}

// WithHostBulkhead allows at most n attempts in flight per destination
// host; an attempt over it is refused at once with sem.ErrFull. The
// transport holds the bulkheads of at most [WithHosts] hosts. An n below 1
// is invalid.
func WithHostBulkhead(n int64) TransportOption {
	return layer(func(c *transportConfig) {
		if n < 1 {
			c.fail(ion.NewConfigError("ionhttp", "WithHostBulkhead", "must be at least 1, got %d", n))
			return
		}
		c.hostBulk = n
	})
}

// WithBulkhead allows at most the capacity of s attempts in flight, over all
// hosts; an attempt over it is refused at once with sem.ErrFull. A nil s is
// invalid.
func WithBulkhead(s *sem.Weighted) TransportOption {
	return layer(func(c *transportConfig) {
		if s == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithBulkhead", "nil *sem.Weighted"))
			return
		}
		c.bulkhead = s
	})
}

// WithTimeout bounds each attempt's wait for the response headers to d. A
// timeout is a Failure, so it is retried and counts against the breaker.
// It never cuts the body: once the headers arrived, the body is bounded only
// by [WithBodyTimeout] and the request's own ctx. The timeout is armed only
// when the base transport waits on the request's ctx (net/http's does); a
// base that never does cannot be interrupted, and an answer it returns
// after d is discarded and counts as a timeout. The transport's attempts
// share one timer for it: arming and ending an attempt's timeout costs a
// lock and a few pointer writes, no allocation. d must be positive.
func WithTimeout(d time.Duration) TransportOption {
	return layer(func(c *transportConfig) {
		if d <= 0 {
			c.fail(ion.NewConfigError("ionhttp", "WithTimeout", "must be positive, got %v", d))
			return
		}
		c.timeout = d
	})
}

// WithBodyTimeout bounds the reading of the body the caller gets: d after
// the headers arrived, a read still pending fails with an error matching
// [ErrBodyTimeout]. Without it (the default) the body is bounded only by
// the request's ctx. It works with [WithPipeline] too. Like [WithTimeout],
// the transport's bodies share one timer for it. d must be positive.
func WithBodyTimeout(d time.Duration) TransportOption {
	return transportOption(func(c *transportConfig) {
		if d <= 0 {
			c.fail(ion.NewConfigError("ionhttp", "WithBodyTimeout", "must be positive, got %v", d))
			return
		}
		c.bodyTimeout = d
	})
}

// WithHosts bounds the per-host breakers and bulkheads: at most maxHosts
// hosts are held (default 1,024; the least recently used idle host is
// forgotten first) and a host unused for idleTTL (default 10 minutes; 0
// keeps them) is forgotten. See [policy.Keyed].
func WithHosts(maxHosts int, idleTTL time.Duration) TransportOption {
	return transportOption(func(c *transportConfig) {
		if maxHosts < 1 || idleTTL < 0 {
			c.fail(ion.NewConfigError("ionhttp", "WithHosts", "maxHosts must be at least 1 and idleTTL not negative, got %d and %v", maxHosts, idleTTL))
			return
		}
		c.maxHosts, c.hostTTL = maxHosts, idleTTL
	})
}

// WithPipeline runs every request through p instead of a pipeline built from
// the layer options (WithRetry, WithHedge, WithBreaker, WithHostBreaker,
// WithLimiter, WithServerLimits, WithHostBulkhead, WithBulkhead,
// WithTimeout), which cannot be combined with it. Any policy works; a
// policy.Timeout in p bounds the wait for the headers only, and a
// [policy.Keyed] layer keyed by [Host] gives per-host policies. Use [Retry]
// rather than policy.Retry, so that a request that may be sent once is not
// retried in vain (the transport never sends it twice either way). The
// transport installs [Classify], or the classifier of [WithClassifier], on
// p. Its policies must run each attempt with a ctx derived from the one
// they received, as every Ion policy does: an attempt run with another ctx
// cannot find its request and fails without sending it, with an error
// matching ion.ErrInvalidConfig that names WithPipeline. A nil p is invalid.
func WithPipeline(p *policy.Pipeline[*http.Response]) TransportOption {
	return transportOption(func(c *transportConfig) {
		if p == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithPipeline", "nil *policy.Pipeline"))
			return
		}
		c.custom = p
	})
}

// WithClassifier replaces [Classify] as the pipeline's classifier. It also
// decides 429s: a classifier that calls a 429 a Failure makes it an ordinary
// failed answer (counted by breakers) instead of a rejection by the server.
// A nil cl is invalid.
func WithClassifier(cl policy.Classifier[*http.Response]) TransportOption {
	return transportOption(func(c *transportConfig) {
		if cl == nil {
			c.fail(ion.NewConfigError("ionhttp", "WithClassifier", "nil classifier"))
			return
		}
		c.classify = cl
	})
}

// WithUnsafeRetries lets the transport retry and hedge requests of every
// method, POST and PATCH included, without an Idempotency-Key: use it only
// when the server makes them idempotent. A body without GetBody is still
// sent once.
func WithUnsafeRetries() TransportOption {
	return transportOption(func(c *transportConfig) { c.unsafe = true })
}

// pipeline builds the transport's pipeline from the options.
func (c *transportConfig) pipeline() *policy.Pipeline[*http.Response] {
	type resp = *http.Response
	if c.custom != nil {
		if c.layers > 0 {
			c.fail(ion.NewConfigError("ionhttp", "WithPipeline", "cannot be combined with layer options such as WithRetry; put those layers in the pipeline"))
		}
		return c.custom
	}
	var layers []policy.Policy[resp]
	if c.hasRetry {
		layers = append(layers, Retry(c.retry...))
	}
	if c.hedges > 0 {
		layers = append(layers, policy.Hedge[resp](c.hedge, policy.WithHedges(c.hedges)))
	}
	if c.hostBreaker != nil {
		build := c.hostBreaker
		layers = append(layers, policy.Keyed(Host, func(host string) policy.Policy[resp] {
			cb := build(host)
			if cb == nil {
				return nil
			}
			return breaker.Policy[resp](cb)
		}, policy.WithMaxKeys(c.maxHosts), policy.WithIdleTTL(c.hostTTL)))
	}
	if c.cb != nil {
		layers = append(layers, breaker.Policy[resp](c.cb))
	}
	if c.lim != nil {
		layers = append(layers, limit.Policy[resp](c.lim, c.limOpts...))
	}
	if c.follow != nil {
		layers = append(layers, limit.Policy[resp](c.follow))
	}
	if n := c.hostBulk; n > 0 {
		layers = append(layers, policy.Keyed(Host, func(string) policy.Policy[resp] {
			return sem.Policy[resp](sem.NewWeighted(n))
		}, policy.WithMaxKeys(c.maxHosts), policy.WithIdleTTL(c.hostTTL)))
	}
	if c.bulkhead != nil {
		layers = append(layers, sem.Policy[resp](c.bulkhead))
	}
	// WithTimeout is applied by the attempt itself (see call.attempt): the
	// same bound as a policy.Timeout innermost, without its ctx and timer
	// allocations or the link between that ctx and the attempt's.
	for _, l := range layers {
		if e, ok := l.(interface{ Err() error }); ok && e.Err() != nil {
			c.fail(e.Err())
		}
	}
	return policy.Compose(layers...)
}

// Retry returns a policy.Retry over responses configured by opts that never
// retries an attempt of a request that may be sent only once (see
// [Replayable]), nor an error that another attempt cannot fix: a
// certificate the client does not trust, an unsupported URL scheme. Use it
// in a custom pipeline ([WithPipeline]). Calling
// AbortIf on the result replaces that guard; the transport still never sends
// such a request twice, but the retry would then wait its backoff in vain.
func Retry(opts ...policy.RetryOption) *policy.RetryLayer[*http.Response] {
	return policy.Retry[*http.Response](opts...).AbortIf(func(resp *http.Response, err error) bool {
		return sentOnce(resp, err) || permanent(err)
	})
}

// permanent reports whether err is one that a new attempt would meet again.
func permanent(err error) bool {
	if err == nil {
		return false
	}
	var unknownCA x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	return errors.As(err, &unknownCA) || errors.As(err, &invalid) || errors.As(err, &hostname) ||
		strings.Contains(err.Error(), "unsupported protocol scheme")
}

// sentOnce reports whether an attempt's outcome belongs to a request that
// may be sent only once.
func sentOnce(resp *http.Response, err error) bool {
	if c, ok := callOf(resp); ok {
		return c.once
	}
	var oe *onceError
	if errors.As(err, &oe) {
		return true
	}
	var rej *RejectedError
	if errors.As(err, &rej) {
		return sentOnce(rej.Response, nil)
	}
	return errors.Is(err, ErrNotReplayable)
}
