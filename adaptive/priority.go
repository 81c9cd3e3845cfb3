package adaptive

import (
	"context"
	"strconv"
)

// Priority is how much a call matters when there is not room for every
// call. Under pressure the [Limiter] and the [Throttler] shed the lowest
// priorities first. The zero value is [Normal], the priority of a call whose
// ctx carries none.
//
// Priorities are ordered: Sheddable < Low < Normal < High < Critical, so
// they compare with < and >.
type Priority int8

const (
	// Sheddable calls are the first to go: prefetches, retries of
	// best-effort work, anything nobody waits for.
	Sheddable Priority = -2
	// Low calls are shed after sheddable ones.
	Low Priority = -1
	// Normal is the default priority.
	Normal Priority = 0
	// High calls are shed only after every lower priority.
	High Priority = 1
	// Critical calls are shed last: a user's interactive request, a health
	// check, the call that takes payment.
	Critical Priority = 2
)

// levels is the number of priorities; index converts a Priority to 0..levels-1.
const levels = 5

func (p Priority) index() int { return int(p - Sheddable) }

// valid reports whether p is one of the five priorities.
func (p Priority) valid() bool { return p >= Sheddable && p <= Critical }

// String returns "sheddable", "low", "normal", "high" or "critical", the
// form [ParsePriority] reads.
func (p Priority) String() string {
	switch p {
	case Sheddable:
		return "sheddable"
	case Low:
		return "low"
	case Normal:
		return "normal"
	case High:
		return "high"
	case Critical:
		return "critical"
	}
	return "Priority(" + strconv.Itoa(int(p)) + ")"
}

// ParsePriority returns the priority named s, as written by
// [Priority.String] ("sheddable", "low", "normal", "high", "critical"). It
// is meant for priorities carried in headers and metadata. An unknown s
// returns [Normal] and an error matching [ErrUnknownPriority], so a peer
// cannot raise its calls above normal by sending garbage.
func ParsePriority(s string) (Priority, error) {
	switch s {
	case "sheddable":
		return Sheddable, nil
	case "low":
		return Low, nil
	case "normal":
		return Normal, nil
	case "high":
		return High, nil
	case "critical":
		return Critical, nil
	}
	return Normal, &priorityError{s: s}
}

type priorityKey struct{}

// ContextWithPriority returns a copy of ctx that carries p. Every Ion
// policy in this package reads it with [PriorityFromContext]. A p outside
// Sheddable..Critical is stored as [Normal]. It allocates one context value,
// as context.WithValue does.
func ContextWithPriority(ctx context.Context, p Priority) context.Context {
	if !p.valid() {
		p = Normal
	}
	return context.WithValue(ctx, priorityKey{}, p)
}

// PriorityFromContext returns the priority ctx carries, or [Normal] when it
// carries none. It does not allocate.
func PriorityFromContext(ctx context.Context) Priority {
	if p, ok := ctx.Value(priorityKey{}).(Priority); ok {
		return p
	}
	return Normal
}
