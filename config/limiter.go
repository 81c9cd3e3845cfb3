package config

import (
	"math"

	"github.com/ionkit/ion/limit"
)

// Limiter kinds, the values of LimiterConfig.Kind.
const (
	kindTokenBucket = "token-bucket"
	kindLeakyBucket = "leaky-bucket"
	kindAll         = "all"
)

// LimiterConfig configures a rate limiter: a [limit.TokenBucket] (the
// default kind), a [limit.LeakyBucket], or an [limit.AllOf] over other
// named limiters of the document ("10/s and 1000/h").
type LimiterConfig struct {
	// Kind is "token-bucket" (the default), "leaky-bucket" or "all".
	Kind string `json:"kind,omitempty" yaml:"kind,omitempty"`
	// Rate is the refill (token bucket) or leak (leaky bucket) rate, such
	// as "10/s". Required for both buckets; not used by "all".
	Rate *Rate `json:"rate,omitempty" yaml:"rate,omitempty"`
	// Burst is a token bucket's burst, in [1, 2^50]. Default 1.
	Burst int `json:"burst,omitempty" yaml:"burst,omitempty"`
	// Capacity is a leaky bucket's capacity, in [1, 2^50]. Default 1.
	Capacity int `json:"capacity,omitempty" yaml:"capacity,omitempty"`
	// Members names the token and leaky buckets of the document that an
	// "all" limiter combines; at least one. A member may belong to several
	// limiters and be used on its own.
	Members []string `json:"members,omitempty" yaml:"members,omitempty"`
}

// kind returns c.Kind with its default.
func (c LimiterConfig) kind() string {
	if c.Kind == "" {
		return kindTokenBucket
	}
	return c.Kind
}

// size returns the burst or capacity of a bucket, with its default of 1.
func (c LimiterConfig) size() int {
	n := c.Burst
	if c.kind() == kindLeakyBucket {
		n = c.Capacity
	}
	if n == 0 {
		return 1
	}
	return n
}

// Validate reports every invalid field (see [BreakerConfig.Validate]).
// The members of an "all" limiter are checked against the other limiters by
// [Document.Validate].
func (c LimiterConfig) Validate() error {
	var p problems
	switch c.kind() {
	case kindTokenBucket, kindLeakyBucket:
		if len(c.Members) > 0 {
			p.addf("members", "only a limiter of kind all has members")
		}
		field, other, n, on := "burst", "capacity", c.Burst, c.Capacity
		if c.kind() == kindLeakyBucket {
			field, other, n, on = "capacity", "burst", c.Capacity, c.Burst
		}
		if on != 0 {
			p.addf(other, "not used by a %s: set %s", c.kind(), field)
		}
		if n < 0 || int64(n) > 1<<50 {
			p.addf(field, "must be in [1, 2^50], got %d", n)
		}
		if c.Rate == nil {
			p.addf("rate", "is required, as in \"10/s\"")
		} else if r := float64(*c.Rate); math.IsNaN(r) || r < 0 {
			p.addf("rate", "must be ≥ 0, got %v", r)
		}
		if len(p.errs) == 0 && c.Rate != nil {
			if c.kind() == kindLeakyBucket {
				p.own("", limit.NewLeakyBucket(limit.Rate(*c.Rate), c.size()).Err())
			} else {
				p.own("", limit.NewTokenBucket(limit.Rate(*c.Rate), c.size()).Err())
			}
		}
	case kindAll:
		if c.Rate != nil || c.Burst != 0 || c.Capacity != 0 {
			p.addf("", "a limiter of kind all takes its limits from its members: set members only")
		}
		if len(c.Members) == 0 {
			p.addf("members", "must name at least one limiter")
		}
	default:
		p.addf("kind", "must be token-bucket, leaky-bucket or all, got %q", c.Kind)
	}
	return p.err()
}

// LimiterUse is a pipeline's use of a named limiter, with the options of
// [limit.Policy].
type LimiterUse struct {
	// Use names a limiter of the document. Required.
	Use string `json:"use" yaml:"use"`
	// MaxWait is how long a call may wait for the limiter
	// (limit.WithMaxWait), ≥ 0. Default 0: a call is rejected at once.
	MaxWait Duration `json:"max_wait,omitempty" yaml:"max_wait,omitempty"`
}

// Validate reports every invalid field; the name is checked against the
// document by [Document.Validate].
func (u LimiterUse) Validate() error {
	var p problems
	if u.Use == "" {
		p.addf("use", "must name a limiter")
	}
	if u.MaxWait < 0 {
		p.addf("max_wait", "must be ≥ 0, got %v", u.MaxWait)
	}
	return p.err()
}
