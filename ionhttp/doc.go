// Package ionhttp runs Ion's policies where Go services make and serve HTTP
// calls: a client [Transport] that runs every request through a pipeline
// over *http.Response, and server middleware that limits, sheds and
// protects handlers. It uses the standard library only.
//
// # Client
//
// [NewClient] and [NewTransport] configure the common case without type
// arguments:
//
//	client := ionhttp.NewClient(http.DefaultTransport,
//		ionhttp.WithRetry(policy.WithAttempts(3)),
//		ionhttp.WithHostBreaker(func(host string) *breaker.Breaker { return breaker.New(host) }),
//		ionhttp.WithLimiter(lim, limit.WithMaxWait(time.Second)),
//		ionhttp.WithTimeout(2*time.Second),
//	)
//
// and [WithPipeline] takes any pipeline over *http.Response for the rest.
//
// Outcomes ([Classify]): a connection error, a timeout and the statuses 500,
// 502, 503 and 504 are failures, retried and counted by breakers; other
// answers, 4xx included, are successes for the breaker. A 429 is a rejection
// by the server: the attempt's error is a [*RejectedError] carrying the
// delay the server asked for (Retry-After in seconds or as an HTTP date, or
// the IETF RateLimit fields), so a Retry waits at least that long and no
// breaker counts it. [WithClassifier] overrides all of this. When the
// policies give up on an answer (retries exhausted on a 503 or a 429), the
// caller gets that answer, as from a plain transport; errors are returned
// only when no answer came or a policy refused the request.
//
// Safety of repeats: a request is retried or hedged only if [Replayable]:
// an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), or a POST
// or PATCH with an Idempotency-Key header ([WithUnsafeRetries] opts in to
// all methods), and a body that GetBody can replay (http.NewRequest sets it
// for bytes, strings and bytes.Buffer bodies). Any other request is sent
// once, whatever the pipeline asks.
//
// Connections: every response the caller does not get (a failed attempt a
// retry threw away, a losing hedge, a late answer) is drained, up to 64
// KiB, and closed, so its connection returns to the pool.
//
// Timeouts never cut bodies: a Timeout in the pipeline ([WithTimeout], or a
// policy.Timeout in a custom pipeline) bounds each attempt's wait for the
// response headers; the body is bounded by [WithBodyTimeout] if set and by
// the request's ctx. Each attempt's ctx ends when its body is read to the
// end or closed, never when RoundTrip returns. Do not set
// http.Client.Timeout, which covers the body too.
//
// Per host: [WithHostBreaker] and [WithHostBulkhead] give each destination
// host a breaker or a bulkhead of its own, held by a [policy.Keyed] layer
// keyed by [Host] (at most 1,024 hosts, idle ones forgotten after 10
// minutes; see [WithHosts]). A custom pipeline can do the same with
// policy.Keyed(ionhttp.Host, ...).
//
// Following the server: [ServerLimits] reads the RateLimit, X-RateLimit-*
// and Retry-After fields of every response and holds a host whose quota is
// spent, so a well-behaved client slows down before it is refused.
//
// # Server
//
// Middleware of the form func(http.Handler) http.Handler, usable with
// net/http's ServeMux and with any router that takes standard middleware:
//
//   - [RateLimit] limits requests per key ([ClientIP] with explicit trusted
//     proxies, [HeaderKey], [RouteKey], or a function of your own), answering
//     429 with Retry-After and the IETF RateLimit and RateLimit-Policy
//     fields. Any limit.Limiter works behind it through [KeyedLimiter],
//     a distributed one included.
//   - [ConcurrencyLimit] bounds the requests in flight with a semaphore and
//     sheds the rest with 503 and Retry-After.
//   - [Timeout] gives each request's ctx a deadline.
//   - [Recover] answers a handler's panic with 500, reports it, and keeps
//     the server running.
//
// Every constructor reports bad input (a nil limiter, a nil key function)
// as a middleware that answers 500 and a [*ion.ConfigError] from its Err
// method, never a panic.
package ionhttp
