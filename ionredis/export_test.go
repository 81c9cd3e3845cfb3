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
