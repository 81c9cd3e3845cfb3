// Package httplimit provides a rate limiter for calls to an HTTP API: the
// multi-tier limiter of an API client that must stay within a server's
// published limits, or of a gateway in front of such an API.
//
// A [MultiTier] passes each [Request] through up to five tiers of token
// buckets: one global bucket, one bucket per route (matched against route
// patterns such as "GET /api/v1/users/{id}", or normalized from the path),
// and one per resource, sub-resource and user id. It charges them
// all-or-nothing, follows a server's rate-limit headers
// ([MultiTier.UpdateFromHeader]: X-RateLimit-Limit, -Remaining, -Reset,
// -Reset-After, -Bucket, -Global and Retry-After), can be paused as a whole
// and keeps statistics. [MultiTier.By] puts it behind limit.Policy.
//
// # Why a package of its own
//
// Package limit holds general rate limiters, in the manner of
// golang.org/x/time/rate: a token bucket, a leaky bucket, a keyed limiter
// and the all-or-nothing combinator limit.All. What this package adds is
// specific to HTTP APIs (routes, headers, ids of the request), so it lives
// beside limit rather than in it, and it is built only on limit's public
// building blocks: the global tier is a limit.TokenBucket, every other
// tier a limit.Keyed (so memory is bounded by WithMaxKeys and idle time,
// and a bucket is never forgotten while a call charges it), and a request
// is charged through limit.All over its tiers. Its rejections are
// *limit.LimitedError values whose Tier names the tier that refused.
//
// # Time and tests
//
// Methods that take a now time.Time (AllowN, ReserveN, TokensAt) use it
// instead of the clock. Pauses and holds end lazily, without a timer, and
// the only timer (a wait's) is stopped on every path, so a MultiTier works
// inside a testing/synctest bubble.
//
// # Metrics
//
// With WithMetrics, a MultiTier records:
//
//	ion_limit_requests_total{name,result}          counter: result=allowed|limited
//	ion_limit_wait_seconds{name}                   histogram: the wait of each admitted Wait or Admit
//	ion_limit_tier_limited_total{name,tier}        counter: refusals by the tier that refused
//	ion_limit_pauses_total{name}                   counter: pauses
//	ion_limit_keys{name,tier}                      gauge: keys remembered by each keyed tier
//	ion_limit_evictions_total{name,tier,reason}    counter: reason=idle|capacity
//
// # Decisions
//
//   - A MultiTier charges every tier as of the time the request will run
//     (the latest of the tiers' free slots), not when it starts waiting.
//   - A pause, or a hold on a route learnt from headers, admits a waiting
//     request as if it arrived when the pause or hold ends; Allow refuses
//     during either.
//   - What headers teach about a route (its server bucket, a hold, a burst)
//     is kept until Reset, within the WithMaxKeys bound; a route's learnt
//     burst is never forgotten by the keyed tier's idle sweep.
package httplimit
