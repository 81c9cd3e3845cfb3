package ionhttp

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/limit"
)

// ServerLimits follows the rate limits that servers publish, per host: it is
// a [limit.Limiter] fed by the responses of a [Transport] built with
// [WithServerLimits]. From each response it reads
//
//   - Retry-After (seconds or an HTTP date) on a 429 or 503: the host is
//     held for that long;
//   - the quota of the IETF RateLimit fields or of X-RateLimit-* (see
//     [ParseQuota]): the remaining count is spent locally by each attempt,
//     and once it reaches 0 the host is held until the quota's reset.
//
// An attempt to a held host is refused at once with a *limit.LimitedError
// whose Delay is the time left, or waits for it with limit.WithMaxWait on a
// policy of your own; a Retry waits it out before trying again. A host that
// published nothing is not limited.
//
// At most maxHosts hosts are remembered; when a new one arrives at the
// bound, the host whose hold ends first is forgotten. ServerLimits is safe
// for concurrent use by multiple goroutines.
type ServerLimits struct {
	maxHosts int
	err      error

	// mu guards the fields below.
	mu    sync.Mutex
	hosts map[string]*hostQuota // lazily filled by observe
}

type hostQuota struct {
	remaining int64     // what is left of the published quota; -1 when none
	reset     time.Time // when the quota is reset
	hold      time.Time // no attempt before this time
}

// NewServerLimits returns a ServerLimits that remembers at most maxHosts
// hosts. A maxHosts below 1 makes every Admit fail with an error matching
// ion.ErrInvalidConfig.
func NewServerLimits(maxHosts int) *ServerLimits {
	s := &ServerLimits{maxHosts: maxHosts, hosts: make(map[string]*hostQuota)}
	if maxHosts < 1 {
		s.err = ion.NewConfigError("ionhttp", "maxHosts", "must be at least 1, got %d", maxHosts)
	}
	return s
}

// errZeroServerLimits is the error of a ServerLimits not made by
// NewServerLimits.
var errZeroServerLimits = ion.NewConfigError("ionhttp", "ServerLimits", "zero value: use NewServerLimits")

// failure returns the configuration error that makes s fail closed, or
// nil. A zero ServerLimits (maxHosts 0 with no error: NewServerLimits sets
// one for any maxHosts below 1) fails too.
func (s *ServerLimits) failure() error {
	if s.err == nil && s.maxHosts == 0 {
		return errZeroServerLimits
	}
	return s.err
}

// Admit implements limit.Limiter: it admits an attempt of the request in
// ctx (see [Request]) unless its host is held. With maxWait > 0 it waits for
// a hold that ends within maxWait, and within ctx's deadline; otherwise it
// returns a *limit.LimitedError at once. A ctx outside a transport's call is
// admitted. An already-done ctx returns ctx.Err().
func (s *ServerLimits) Admit(ctx context.Context, maxWait time.Duration) error {
	if err := s.failure(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	req, ok := Request(ctx)
	if !ok {
		return nil
	}
	for {
		d := s.take(req.URL.Host, time.Now())
		if d == 0 {
			return nil
		}
		if d > maxWait {
			return &limit.LimitedError{Delay: d}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
			return &limit.LimitedError{Delay: d}
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
			maxWait -= d
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
	}
}

// take spends one unit of host's quota at now, or returns how long the host
// is held.
func (s *ServerLimits) take(host string, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.hosts[host]
	if q == nil {
		return 0
	}
	if now.Before(q.hold) {
		return q.hold.Sub(now)
	}
	if q.remaining == 0 && now.Before(q.reset) {
		return q.reset.Sub(now)
	}
	if q.remaining > 0 {
		q.remaining--
	} else if q.remaining == 0 {
		q.remaining = -1 // the reset passed: unknown until the next response
	}
	return 0
}

// observe reads the limits resp publishes.
func (s *ServerLimits) observe(resp *http.Response) {
	if s.failure() != nil || resp.Request == nil || resp.Request.URL == nil {
		return
	}
	now := time.Now()
	var hold time.Time
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		if d, ok := RetryAfter(resp.Header, now); ok && d > 0 {
			hold = now.Add(d)
		}
	}
	quota, hasQuota := ParseQuota(resp.Header, now)
	if hold.IsZero() && !hasQuota {
		return
	}
	host := resp.Request.URL.Host
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.hosts[host]
	if q == nil {
		if len(s.hosts) >= s.maxHosts {
			s.evictLocked(now)
		}
		q = &hostQuota{remaining: -1}
		s.hosts[host] = q
	}
	if hold.After(q.hold) {
		q.hold = hold
	}
	if hasQuota {
		q.remaining = quota.Remaining
		q.reset = now.Add(quota.Reset)
	}
}

// evictLocked forgets the host whose limits end first. It must be called
// with s.mu held.
func (s *ServerLimits) evictLocked(now time.Time) {
	var victim string
	var end time.Time
	first := true
	for h, q := range s.hosts {
		e := q.hold
		if q.reset.After(e) {
			e = q.reset
		}
		if first || e.Before(end) {
			victim, end, first = h, e, false
		}
		if !e.After(now) {
			break // already over: as good as any
		}
	}
	delete(s.hosts, victim)
}
