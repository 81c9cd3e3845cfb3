// Package iongrpc runs Ion's policies on gRPC calls: client interceptors
// that run every call through a pipeline, and server interceptors that rate
// limit, shed load and recover panics. It is a side module of Ion, so that
// the core stays free of the gRPC dependency.
//
// # Client
//
// [NewClient] configures the pipeline with options (retry, hedge, breaker,
// limiter, bulkhead, per-attempt timeout), or takes pipelines of your own
// ([WithPipelines]); [Client.Unary] and [Client.Stream] are the
// interceptors. Outcomes ([Classify]): Unavailable, DeadlineExceeded,
// ResourceExhausted, Aborted and Internal, and errors that are not gRPC
// statuses, are failures; every other code is an answer and a success for
// the breaker. The caller's own cancellation or deadline is never a failure:
// a DeadlineExceeded the server sends for the caller's deadline is
// recognised as such. A ResourceExhausted that carries a pushback (a
// RetryInfo status detail, or the grpc-retry-pushback-ms trailer) is a
// rejection by the server, a [*RejectedError]: no breaker counts it and a
// retry waits at least the pushback. When the policies give up, the caller
// gets the server's status.
//
// Streams are retried and hedged only before their first response message,
// the commit point: see [Client.Stream]. After it, a stream is the caller's,
// and its ctx ends with the caller's ctx or the stream, never when the
// pipeline returns (a per-attempt timeout never cuts a committed stream).
//
// gRPC does not say which methods are idempotent: configure retries and
// hedges only on connections whose methods are safe to repeat.
//
// # Server
//
// [NewServer] builds [Server.Unary] and [Server.Stream]: a rate limit per
// key ([MethodKey], [PeerKey] or a function of your own, read by a keyed
// limiter through [LimitKey]) and a concurrency limit, both answering
// ResourceExhausted with a RetryInfo detail and the pushback trailer; and a
// panic in a handler answered Internal and reported, never crashing the
// server.
//
// Bad configuration never panics: the interceptors fail closed, every call
// failing with an error matching ion.ErrInvalidConfig on the client and
// Internal on the server, and Err reports it.
package iongrpc
