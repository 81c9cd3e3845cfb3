package iongrpc

import (
	"context"

	"google.golang.org/grpc/metadata"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
)

// PriorityKey is the metadata key that carries a call's priority (see
// package adaptive) from a client to a server: "sheddable", "low",
// "normal", "high" or "critical".
//
// The Client's interceptors add it to every call whose ctx carries a
// priority other than normal (adaptive.ContextWithPriority) and whose
// outgoing metadata does not set it already, so a priority given at the
// edge of a system travels with the call. [WithPriority] reads it on the
// server side.
const PriorityKey = "ion-priority"

// withPriority returns ctx with the priority it carries in its outgoing
// metadata. A normal priority, the default, is not sent.
func withPriority(ctx context.Context) context.Context {
	p := adaptive.PriorityFromContext(ctx)
	if p == adaptive.Normal {
		return ctx
	}
	if md, ok := metadata.FromOutgoingContext(ctx); ok && len(md.Get(PriorityKey)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, PriorityKey, p.String())
}

// WithPriority gives each call the priority its client sent in
// [PriorityKey] (adaptive.ContextWithPriority on the handler's ctx), so
// that an adaptive limiter or throttler in the handler sheds the lowest
// priorities first. It believes the metadata only when trusted returns true
// for the call's ctx (a peer of your own, checked through
// peer.FromContext or its credentials): any client could claim
// "critical". A call it does not trust, or whose priority is missing or
// unknown, keeps the normal priority. A nil trusted fails closed.
func WithPriority(trusted func(ctx context.Context) bool) ServerOption {
	return serverOption(func(s *Server) {
		if trusted == nil {
			s.fail(ion.NewConfigError("iongrpc", "WithPriority", "nil function"))
			return
		}
		s.trusted = trusted
	})
}

// priorityFrom returns ctx with the priority of its incoming metadata, if
// s trusts the call.
func (s *Server) priorityFrom(ctx context.Context) context.Context {
	if s.trusted == nil {
		return ctx
	}
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	v := md.Get(PriorityKey)
	if len(v) == 0 || !s.trusted(ctx) {
		return ctx
	}
	if p, err := adaptive.ParsePriority(v[0]); err == nil && p != adaptive.Normal {
		return adaptive.ContextWithPriority(ctx, p)
	}
	return ctx
}
