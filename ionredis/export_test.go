package ionredis

import "context"

// KeysOf returns the Redis keys of subject's windows.
func (l *Limiter) KeysOf(subject string) []string { return l.keysOf(subject) }

// EncodeSubject and EncodeName expose the key encodings.
var (
	EncodeSubject = encodeSubject
	EncodeName    = encodeName
)

// Abandon stops the lease's renewal without releasing it, as a holder that
// crashed would.
func (l *Lease) Abandon() {
	l.once.Do(func() {
		close(l.stop)
		<-l.done
	})
}

// HoldersKey returns the key of the semaphore's holders.
func (s *Semaphore) HoldersKey() string { return s.keys[0] }

// SyncNow makes one sync of the shared breaker at once.
func (s *SharedBreaker) SyncNow(ctx context.Context) error { return s.sync(ctx) }

// Cohort returns the callers of subject gathered for its next coalesced
// round trip.
func (l *Limiter) Cohort(subject string) int {
	l.co.mu.Lock()
	defer l.co.mu.Unlock()
	if s := l.co.subs[subject]; s != nil && s.next != nil {
		return s.next.live
	}
	return 0
}

// Subjects returns the subjects whose coalescing state l keeps.
func (l *Limiter) Subjects() int {
	l.co.mu.Lock()
	defer l.co.mu.Unlock()
	return len(l.co.subs)
}

const MaxSubjects = maxSubjects
