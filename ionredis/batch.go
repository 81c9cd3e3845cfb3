package ionredis

import (
	"context"
	"sync"
	"time"
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
// holds at most n−1 unused tokens per key (one fetch in flight per key; a
// call that finds the batch empty while it is being refilled takes a single
// token itself). Unused tokens expire with maxAge and are not returned, an
// under-admission of at most n−1 per replica and key. Lease mode applies to
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
	left     int       // tokens left
	until    time.Time // when they expire
	fetching bool      // a refill is in flight
}

func newBatcher(l *Limiter, n int, maxAge time.Duration) (*batcher, error) {
	if int64(n) > l.burst {
		return nil, configError("WithBatch", "n must be at most the burst %d, got %d", l.burst, n)
	}
	return &batcher{l: l, n: n, maxAge: maxAge, m: make(map[string]*batch)}, nil
}

// take admits one call of keys' subject from its batch, refilling it in
// one round trip when empty.
func (b *batcher) take(ctx context.Context, keys []string) error {
	key := keys[0]
	now := time.Now()
	b.mu.Lock()
	bt := b.m[key]
	if bt != nil && bt.left > 0 && now.Before(bt.until) {
		bt.left--
		b.mu.Unlock()
		return nil
	}
	want := 1
	if bt == nil || !bt.fetching {
		if bt == nil {
			if len(b.m) >= maxBatchKeys {
				clear(b.m)
			}
			bt = &batch{}
			b.m[key] = bt
		}
		bt.fetching = true
		want = b.n
	}
	b.mu.Unlock()

	l := b.l
	d, err := l.decide(ctx, keys, want, 1, 0)
	if want > 1 {
		b.mu.Lock()
		bt.fetching = false
		if err == nil && d.grant > 1 {
			bt.left, bt.until = int(d.grant-1), now.Add(b.maxAge)
		}
		b.mu.Unlock()
	}
	if err != nil {
		_, err = l.degraded(ctx, err, 0)
		return err
	}
	return d.err(l)
}
