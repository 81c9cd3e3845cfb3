// Package ionredis provides Ion's rate limiter and semaphore shared by every
// replica of a service, on Redis: an upstream quota of 1,000 requests a
// minute for the whole fleet, 10/s per tenant wherever the tenant's requests
// land, at most 50 concurrent calls to a database from all replicas
// together. Moving from one process to a fleet is a constructor change: a
// [Limiter] is a limit.Limiter (limit.Policy runs calls under it), and a
// [Semaphore]'s [Policy] composes like sem.Policy.
//
// It works with any go-redis client (redis.UniversalClient: standalone,
// Sentinel, Cluster, Ring) and with Valkey (Redis 5 or later). The client
// must be built with ContextTimeoutEnabled: true: without it go-redis
// ignores ctx deadlines on the socket, and a hung Redis would hold each call
// for seconds instead of the backend timeout; a Client, ClusterClient or
// Ring without it makes the primitive fail closed, naming "client".
//
// # The rate limiter
//
// [Limiter] is GCRA (the generic cell rate algorithm, as in
// go-redis/redis_rate), decided by one Lua script in one round trip (for a
// whole group of concurrent callers: see Coalesced decisions):
//
//   - Time is Redis's (the TIME command), never a replica's, so clock skew
//     between replicas cannot over-admit.
//   - The arithmetic is integer microseconds, so no count drifts and every
//     backend (Redis, Valkey, the embedded miniredis used in tests) gives
//     the same answers. The interval between tokens is rounded up to a whole
//     microsecond, so a limit is never exceeded: 1,000/s, 1/min or 50/hour
//     are exact, 3/s runs at 2.999994/s, 7,000/s at 6,993/s; rates above
//     a million a second are refused.
//   - A key lives until its window would be full again, then expires: idle
//     keys cost nothing and the key count does not grow without bound.
//   - The answer ([Result]) carries allowed, remaining, retry-after and
//     reset-after. A refusal is a *limit.LimitedError: it matches
//     limit.ErrLimited and ion.ErrRejected, and ion.RetryAfter returns the
//     wait. A refusal writes nothing, so it charges nothing.
//   - Several windows ([WithWindow]: "10/s and 1,000/hour per user") are
//     decided for a key in the same script, atomically: all or nothing, a
//     refusal by any window charges none.
//   - [Limiter.WaitN] reserves the tokens in the round trip that decides and
//     sleeps until they are due, strictly before ctx's deadline; a wait that
//     cannot fit fails at once, reserving nothing, and a wait whose ctx ends
//     gives its tokens back.
//
// The burst is the most tokens available at once; over any interval of
// length d, a limit admits at most rate*d + burst requests, whatever the
// number of replicas. A rate of limit.Inf admits everything without a
// round trip; a rate of 0 (allowed by package limit, where a bucket is
// then a one-off budget) is refused here, because a shared key that never
// refills would never expire.
//
// # Coalesced decisions
//
// The decisions that do not wait ([Limiter.Admit], and [Limiter.By] with no
// max wait: the ones limit.Policy makes) are coalesced per subject. While a
// round trip for a subject is in flight, the replica's other callers of that
// subject gather; when it returns, all of them are decided in one more round
// trip, by one script call that grants as many tokens as fit to the first of
// them in arrival order and refuses the rest with the wait until one token
// more would fit. That is exactly the answer the same calls would get one
// after the other at the same instant of Redis's clock: the limit stays
// exact, and under contention a replica makes one round trip per group of
// callers instead of one per call (with 64 callers of one key, about 0.04 per
// call, measured in bench/), and Redis runs one script instead of dozens.
//
// A caller that finds nothing in flight makes its round trip at once, under
// its own ctx: a lone caller pays nothing for coalescing. A group's round
// trip runs on a goroutine of the limiter, detached from its callers' ctx and
// bounded by the backend timeout, so any caller can leave when its ctx ends;
// one that leaves before its group is sent takes no token, one that leaves
// after may have had its token taken, as a lone caller whose ctx ends during
// its round trip may. [Limiter.AllowN] and [Limiter.WaitN] are not coalesced:
// their answers ([Result], a reserved wait) are each caller's own.
//
// # Lease mode
//
// At high rates a round trip per call is the cost. With [WithBatch] a
// replica takes up to n tokens of a key per round trip and admits the key's
// next calls locally for a while: n times fewer round trips (0.05 per call
// at n = 20, measured in bench/). Tokens are charged in Redis when taken,
// so the fleet never takes more than the limit; but a replica may spend a
// batch later than it took it, so over any interval the fleet admits at
// most replicas×(n−1) more than rate*d + burst. Unused tokens expire, an
// under-admission of at most n−1 per replica and key.
//
// # Keys
//
// All keys start with "ion:". The keys of one subject (the windows of one
// limiter key; a semaphore's holders and fencing counter) share a Redis
// Cluster hash tag, so multi-key scripts never fail with CROSSSLOT and
// different subjects spread over the cluster. Keys of calls are caller
// input (tenant ids, API keys, IPs), so they are encoded: by default hashed
// with SHA-256 (128 bits kept), so a secret never appears in a key name;
// with [WithReadableKeys], escaped so that no byte outside [A-Za-z0-9._-]
// survives (braces cannot end the hash tag, ':' and '/' cannot forge another
// namespace), and hashed when longer than 64 bytes. No key is longer than
// about 160 bytes whatever the input.
//
// # When Redis fails
//
// Every round trip is bounded by a timeout ([WithTimeout], default
// [DefaultTimeout], 50ms), and an optional Ion breaker ([WithBreaker])
// stops paying round trips to a dead Redis. When a round trip fails (times
// out, errors, or the breaker is open) the failure mode decides, and it is
// the user's explicit choice:
//
//   - fail closed, the default: the call is rejected with a [*BackendError],
//     which matches [ErrBackend] and ion.ErrRejected (a pipeline treats it as
//     load shed) and unwraps to the cause;
//   - [WithFailOpen]: the call is admitted, unlimited, until Redis is back;
//   - [WithFallback] (limiter) or [WithLocalSemaphore] (semaphore): a local
//     Ion primitive decides, typically the shared limit divided by the number
//     of replicas.
//
// A caller whose own ctx ends during the round trip gets ctx's error, never
// a failure-mode decision: that says nothing about Redis.
//
// # Over-admission
//
// The shared limit holds exactly (rate*d + burst over any d) while Redis
// answers. It can be exceeded only by: lease mode (replicas×(n−1), above);
// the failure modes (fail open admits without bound, a fallback admits what
// the local limiters allow, added over the replicas); a Redis failover that
// loses recent writes (asynchronous replication: up to one burst per key);
// and a restart without persistence (every window starts full again).
//
// # The semaphore
//
// [Semaphore] is a counting semaphore in one sorted set per name: each
// permit is a lease whose expiry, on Redis's clock, is renewed by the holder
// every third of its TTL. The renewal goroutine belongs to the [Lease] and
// is joined by [Lease.Release]. A holder that crashes stops renewing and its
// permit comes back at most one TTL later; a holder that cannot reach Redis
// for a whole TTL declares the lease lost ([Lease.Lost]; [Policy] cancels
// the call's ctx with [ErrLeaseLost]). Each lease carries a fencing token,
// strictly increasing (a counter seeded with Redis's clock in microseconds
// when missing, so tokens keep increasing across a restart that lost it).
// The semaphore can have more holders than its capacity only while a holder
// whose lease expired has not yet noticed (about one backend timeout after
// the expiry, since it counts the TTL from before its last renewal was
// sent), or after a Redis restart that lost the leases (until the next
// renewal, a third of the TTL): pass the fencing token to the resource to
// close that gap. Waiting callers poll with randomized
// backoff; the semaphore is not FIFO.
//
// # Shared breaker state
//
// [SharedBreaker] (opt-in) makes the breakers of every replica open
// together without a distributed lock: each replica's breaker stays local
// (its closed-state path makes no round trip); once per sync interval a
// goroutine adds the breaker's new successes and failures to a window in
// Redis and reads back the fleet's state, in one script. The fleet opens
// when its window breaks the fleet rule or when any replica's breaker opens
// by itself, and every replica is then forced open for the fleet's open
// period. A replica's view is at most one sync interval (plus a round trip)
// stale; when Redis fails each breaker decides alone.
//
// # Decisions
//
//   - Every constructor takes the client, a name and the limit (window,
//     capacity, breaker) positionally: the name is what makes replicas
//     share state, so it has no default.
//   - Fail closed is the default failure mode: a limit that silently stops
//     limiting when Redis is down is the accident this package exists to
//     prevent. Fail open and the local fallback are one option away.
//   - A rate of 0 is refused (see above), and intervals are rounded up to a
//     whole microsecond, never down.
//   - Semaphore permits weigh 1, waiting is by polling (Redis has no wake-up
//     on a sorted set), and there is no FIFO order across replicas.
//   - Lease mode returns no unused tokens (a refund would cost the round
//     trip it saves); they expire with the batch.
//
// # Observability
//
// With [WithMetrics], a primitive named n records:
//
//	ion_redis_limit_requests_total{name=n,result=allowed|limited}  counter: Redis's decisions
//	ion_redis_sem_acquire_total{name=n,result=acquired|full}       counter
//	ion_redis_sem_leases_lost_total{name=n}                        counter: leases that expired while held
//	ion_redis_backend_errors_total{name=n,kind=limit|sem}          counter: failed round trips
//	ion_redis_backend_seconds{name=n,kind=limit|sem}               histogram: round-trip latency
//	ion_redis_degraded_total{name=n,kind,mode=closed|open|local}   counter: calls the failure mode decided
package ionredis
