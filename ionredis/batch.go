package ionredis

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/ionkit/ion/limit"
)

// maxBatchKeys bounds the keys whose batches a limiter keeps; past it the
// batches are dropped (their tokens unused: an under-admission, never an
// over-admission).
const maxBatchKeys = 10_000

// WithBatch turns on lease mode, for high rates: a replica takes up to n
// tokens of a key in one round trip (as many as the windows grant at once,
// at least 1) and admits the key's next calls from that batch locally,
// without a round trip, for up to maxAge. At full use that is n times
// fewer round trips.
//
// The tokens are charged in Redis when taken, so the fleet never admits
// more than the limit grants; but a token taken now may be used up to
// maxAge later, so over any interval the fleet can admit up to
// replicas×(n−1) more than the limit (rate*d + burst) allows: each replica
// holds at most n−1 unused tokens per key. Unused tokens expire with maxAge and are not returned, an
// under-admission of at most n−1 per replica and key. While a refill is in
// flight the replica's other callers of the key wait for it and share its
// tokens, and a refusal is remembered until its retry-after, so a hot key
// costs one round trip per batch however many goroutines call it. Lease mode applies to
// calls that do not wait ([Limiter.Admit] and [Limiter.By] with no max
// wait); AllowN and WaitN always ask Redis.
//
// n must be at least 2 and at most the smallest burst, and maxAge positive;
// otherwise the limiter fails closed, naming "WithBatch".
func WithBatch(n int, maxAge time.Duration) LimiterOption {
	return limiterOption(func(c *limiterConfig) {
		switch {
		case n < 2:
			c.fail(configError("WithBatch", "n must be at least 2, got %d", n))
		case maxAge <= 0:
			c.fail(configError("WithBatch", "maxAge must be positive, got %v", maxAge))
		default:
			c.batch, c.batchAge = n, maxAge
		}
	})
}

// batcher holds a limiter's batches of tokens, per key.
type batcher struct {
	l      *Limiter
	n      int
	maxAge time.Duration

	mu sync.Mutex // guards the fields below.
	m  map[string]*batch
}

// batch is the unused tokens of one key.
type batch struct {
	left   int           // tokens left
	until  time.Time     // when they expire
	fetch  chan struct{} // non-nil while a refill is in flight; closed when it ends
	denied time.Time     // Redis refused a refill: no token before then
	tier   string        // the window that refused
}

func newBatcher(l *Limiter, n int, maxAge time.Duration) (*batcher, error) {
	if int64(n) > l.burst {
		return nil, configError("WithBatch", "n must be at most the burst %d, got %d", l.burst, n)
	}
	return &batcher{l: l, n: n, maxAge: maxAge, m: make(map[string]*batch)}, nil
}

// take admits one call of keys' subject from its batch. When the batch is
// empty one caller refills it in one round trip while the others wait for
// that round trip (a wait no longer than their own would be) and share its
// tokens. A refusal is remembered until its retry-after, so the callers of
// a refused key do not each ask Redis again.
func (b *batcher) take(ctx context.Context, keys []string) error {
	key := keys[0]
	for {
		now := time.Now()
		b.mu.Lock()
		bt := b.m[key]
		if bt == nil {
			if len(b.m) >= maxBatchKeys {
				clear(b.m)
			}
			bt = &batch{}
			b.m[key] = bt
		}
		switch {
		case bt.left > 0 && now.Before(bt.until):
			bt.left--
			b.mu.Unlock()
			return nil
		case now.Before(bt.denied):
			wait, tier := bt.denied.Sub(now), bt.tier
			b.mu.Unlock()
			if b.l.be.m != nil {
				b.l.be.m.limited.Add(1)
			}
			return &limit.LimitedError{Delay: wait, Tier: tier}
		case bt.fetch != nil:
			ch := bt.fetch
			b.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		ch := make(chan struct{})
		bt.fetch = ch
		b.mu.Unlock()
		return b.refill(ctx, keys, bt, ch, now)
	}
}

// refill asks Redis for a batch for bt, keeps one token for the caller and
// wakes the callers waiting on ch.
func (b *batcher) refill(ctx context.Context, keys []string, bt *batch, ch chan struct{}, now time.Time) error {
	l := b.l
	d, err := l.counted(l.decide(ctx, keys, b.n, 1, 0))
	if err == nil {
		err = d.err(l)
	}
	b.mu.Lock()
	bt.fetch = nil
	switch {
	case err == nil:
		bt.left, bt.until = int(d.grant-1), now.Add(b.maxAge)
	case !d.granted() && d.wait > 0 && errors.Is(err, limit.ErrLimited):
		var le *limit.LimitedError
		if errors.As(err, &le) {
			bt.denied, bt.tier = now.Add(le.Delay), le.Tier
		}
	}
	b.mu.Unlock()
	close(ch)
	if _, backend := err.(*BackendError); backend {
		_, err = l.degraded(ctx, err, 0)
	}
	return err
}
