package ionredis

import (
	"context"
	"sync"

	"github.com/ionkit/ion/limit"
)

// Coalescing of the decisions that do not wait: the behaviour is in the
// package doc (Coalesced decisions). A subject is busy while one of its
// round trips is in flight; callers that find it busy join its next cohort,
// which the caller or goroutine finishing the round trip in flight seals
// (ranks the members that stayed, in arrival order) and sends. A cohort of
// n members asks for n tokens, accepting as few as 1: the script's partial
// grant, which is n single decisions made one after the other at one
// instant of Redis's clock.

// maxSubjects bounds the subjects whose state a limiter keeps between
// calls (idle ones keep their keys, so a hot subject's are built once); past
// it the idle ones are forgotten.
const maxSubjects = 4096

// coalescer gathers the cohorts of a limiter, per subject.
type coalescer struct {
	mu   sync.Mutex // guards the fields below and those of every subject and cohort
	subs map[string]*subject
}

// subject is the coalescing state of one subject.
type subject struct {
	keys []string // its windows' keys
	busy bool     // a round trip of the subject is in flight
	next *cohort  // the callers waiting for the next one, or nil
}

// subjectLocked returns the state of the subject named name, making it
// (with keys, or keysOf(name) when keys is nil) if it is new. It must be
// called with c.mu held.
func (l *Limiter) subjectLocked(name string, keys []string) *subject {
	c := &l.co
	if s := c.subs[name]; s != nil {
		return s
	}
	if len(c.subs) >= maxSubjects {
		for k, s := range c.subs {
			if !s.busy {
				delete(c.subs, k)
			}
		}
	}
	if keys == nil {
		keys = l.keysOf(name)
	}
	s := &subject{keys: keys}
	c.subs[name] = s
	return s
}

// cohort is callers decided together in one round trip.
type cohort struct {
	keys    []string
	members []*member
	live    int  // members that have not left
	sent    bool // the round trip is made: no member joins or leaves it now

	done chan struct{} // closed when d and err are set
	d    decision
	err  error
}

// member is one caller of a cohort.
type member struct {
	gone bool // left before the cohort was sent
	rank int  // its place among the members that stayed, from 0
}

// admitCoalesced decides one token for the subject named name, without
// waiting, coalesced with the replica's other callers of the same subject.
// keys are the subject's keys, or nil to have them built when needed.
func (l *Limiter) admitCoalesced(ctx context.Context, name string, keys []string) error {
	c := &l.co
	c.mu.Lock()
	s := l.subjectLocked(name, keys)
	keys = s.keys
	if !s.busy {
		s.busy = true
		c.mu.Unlock()
		d, err := l.counted(l.decide(ctx, keys, 1, 1, 0))
		l.handOff(s)
		if err != nil {
			_, err = l.degraded(ctx, err, 0)
			return err
		}
		return d.err(l)
	}
	co := s.next
	if co == nil {
		co = &cohort{keys: keys, done: make(chan struct{})}
		s.next = co
	}
	m := &member{}
	co.members = append(co.members, m)
	co.live++
	c.mu.Unlock()

	select {
	case <-co.done:
	case <-ctx.Done():
		c.mu.Lock()
		if !co.sent {
			m.gone = true
			co.live--
		}
		c.mu.Unlock()
		return ctx.Err()
	}
	if co.err != nil {
		_, err := l.degraded(ctx, co.err, 0)
		return err
	}
	if int64(m.rank) < co.d.grant {
		return nil
	}
	if !co.d.granted() {
		return co.d.err(l)
	}
	return &limit.LimitedError{Delay: co.d.next, Tier: l.tier(co.d.nextIdx)}
}

// handOff is called when a round trip of s has returned: it sends the
// cohort that gathered meanwhile, on a goroutine of the limiter, or marks s
// idle.
func (l *Limiter) handOff(s *subject) {
	if co := l.seal(s); co != nil {
		// Owner: the limiter; exits when the last cohort of s is decided,
		// each round trip bounded by the backend timeout; not joined:
		// callers wait on their cohort's done, or leave with their ctx.
		go l.sendCohorts(s, co)
	}
}

// seal takes the cohort of s that is to be sent next, ranks its members
// and returns it; or, when no member is left to send for, marks s idle and
// returns nil.
func (l *Limiter) seal(s *subject) *cohort {
	c := &l.co
	c.mu.Lock()
	defer c.mu.Unlock()
	co := s.next
	s.next = nil
	if co == nil || co.live == 0 {
		s.busy = false
		return nil
	}
	co.sent = true
	rank := 0
	for _, m := range co.members {
		if !m.gone {
			m.rank = rank
			rank++
		}
	}
	return co
}

// sendCohorts decides co, then every cohort of s that gathers while it is
// in flight, until none does.
func (l *Limiter) sendCohorts(s *subject, co *cohort) {
	for co != nil {
		n := co.live
		co.d, co.err = l.decide(context.Background(), co.keys, n, 1, 0)
		if co.err == nil {
			g := min(co.d.grant, int64(n))
			l.count(g, int64(n)-g)
		}
		close(co.done)
		co = l.seal(s)
	}
}
