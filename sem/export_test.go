package sem

import (
	"time"

	"github.com/ionkit/ion/internal/contend"
)

// InUse returns the permits in use (acquired and not released), debt
// included: what Capacity() - Available() says only while no debt is owed.
func InUse(s *Weighted) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inUseLocked()
}

// ForceAvailable stores free as the count, as a release of more than was
// held racing a shrink can leave it (protocol point 7).
func ForceAvailable(s *Weighted, free int64) { s.state.Store(uint64(free)) }

// Trim runs the end of a fast-path release of n whose count passed the
// capacity.
func Trim(s *Weighted, n int64) error { return s.trim(n) }

// Contend turns the contended mode on, as a lost compare-and-swap would.
func Contend(s *Weighted) { s.mode.Enter() }

// Contended reports whether the contended mode is on.
func Contended(s *Weighted) bool { return s.mode.On() }

// CalmAfter is the number of operations in a row that found the lock free
// and end the contended mode.
var CalmAfter = contend.CalmAfter()

// Settings are a semaphore's queue settings, with the mirrors that the fast
// paths read, for tests that check what Reconfigure changed.
type Settings struct {
	Fairness                   Fairness
	Timeout                    time.Duration
	LIFOAt                     int
	CoDelTarget, CoDelInterval time.Duration
	Barge, CoDelOn             bool
}

// SettingsOf returns the settings of s in force.
func SettingsOf(s *Weighted) Settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Settings{
		Fairness: s.fairness, Timeout: time.Duration(s.timeout.Load()), LIFOAt: s.lifoAt,
		CoDelTarget: s.codel.Target, CoDelInterval: s.codel.Interval,
		Barge: s.barge.Load(), CoDelOn: s.codelOn.Load(),
	}
}
