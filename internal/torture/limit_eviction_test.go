package torture

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ionkit/ion/limit"
	"github.com/ionkit/ion/limit/httplimit"
)

// TestLimitEvictionRacingUse drives the keyed limiters' stores with many
// goroutines on few keys at a rate that refills nothing during the run,
// while other keys' traffic sweeps and (for the small stores) evicts for
// room: a call must always charge the bucket the key's next call finds, so
// no key admits more than its burst. Eviction for room is lossy by design
// (documented), so every store here has room for every key it sees.
func TestLimitEvictionRacingUse(t *testing.T) {
	const keys, burst = 16, 2
	callers := min(*callersFlag, 64)
	type subject struct {
		name  string
		allow func(g, k int) bool
	}
	subjects := func() []subject {
		kd := limit.NewKeyed[int](limit.PerHour(1), burst)
		ttl := limit.NewKeyed[int](limit.PerHour(1), burst, limit.WithIdleTTL(time.Hour), limit.WithMaxKeys(keys+callers)) // room for every key
		mt := httplimit.New(httplimit.WithTier(httplimit.Global, limit.Inf, 0),
			httplimit.WithTier(httplimit.Route, limit.PerHour(1), burst), httplimit.WithTier(httplimit.Resource, limit.Inf, 0),
			httplimit.WithTier(httplimit.User, limit.PerHour(1), burst))
		ctx := context.Background()
		return []subject{
			{"Keyed.Allow", func(g, k int) bool {
				_ = kd.Allow(keys + g) // another key: sweeps
				return kd.Allow(k)
			}},
			{"Keyed.Admit", func(g, k int) bool {
				_ = kd.Allow(keys + g)
				return kd.By(func(context.Context) int { return 2*keys + k }).Admit(ctx, 0) == nil
			}},
			{"Keyed(ttl).Wait", func(g, k int) bool {
				_ = ttl.Allow(keys + g)
				c, cancel := context.WithTimeout(ctx, time.Millisecond)
				defer cancel()
				return ttl.Wait(c, k) == nil
			}},
			{"MultiTier.user", func(g, k int) bool {
				_ = mt.Allow(httplimit.Request{Path: "/other/" + strconv.Itoa(g), UserID: "other" + strconv.Itoa(g)})
				return mt.Allow(httplimit.Request{Path: "/u", UserID: strconv.Itoa(k)})
			}},
		}
	}
	for _, s := range subjects() {
		admitted := make([]atomic.Int32, keys)
		var wg sync.WaitGroup
		for g := range callers {
			wg.Go(func() {
				for i := range 8 {
					k := (g + i) % keys
					if s.allow(g, k) {
						admitted[k].Add(1)
					}
				}
			})
		}
		wg.Wait()
		for k := range admitted {
			if n := admitted[k].Load(); n > burst {
				t.Errorf("%s: key %d admitted %d calls, burst %d at 1/h", s.name, k, n, burst)
			}
		}
	}
}
