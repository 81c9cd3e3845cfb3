package bench_test

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/ionkit/ion/limit"
)

// The steady state of a keyed limiter: 1,000 tenants limited to 100/s (burst
// 100), each sending 10/s, so every tenant stays under its limit, the normal
// case. Time is explicit (AllowN at a now that advances 100 µs per call), so
// the figure is the keyed path alone and nothing is ever refused. The peer
// is what users write with golang.org/x/time/rate: a map of limiters under a
// mutex, one per tenant, never forgotten.
const (
	keyedTenants = 1000
	keyedStep    = time.Second / (10 * keyedTenants)
)

func tenantKeys() []string {
	keys := make([]string, keyedTenants)
	for i := range keys {
		keys[i] = "tenant-" + strconv.Itoa(i)
	}
	return keys
}

// xrateKeyed is the map of x/time/rate limiters.
type xrateKeyed struct {
	mu   sync.Mutex
	lims map[string]*rate.Limiter
}

func (k *xrateKeyed) AllowN(now time.Time, key string, n int) bool {
	k.mu.Lock()
	lim := k.lims[key]
	if lim == nil {
		lim = rate.NewLimiter(100, 100)
		k.lims[key] = lim
	}
	k.mu.Unlock()
	return lim.AllowN(now, n)
}

var keyedSteadyState = register("KeyedSteadyState",
	impl{"ion", func(b *testing.B) {
		keys, lim := tenantKeys(), limit.NewKeyed[string](limit.PerSecond(100), 100)
		now, i := time.Now(), 0
		for b.Loop() {
			now = now.Add(keyedStep)
			if !lim.AllowN(now, keys[i%keyedTenants], 1) {
				b.Fatal("a tenant under its limit was refused")
			}
			i++
		}
	}},
	impl{"xrate", func(b *testing.B) {
		keys, lim := tenantKeys(), &xrateKeyed{lims: map[string]*rate.Limiter{}}
		now, i := time.Now(), 0
		for b.Loop() {
			now = now.Add(keyedStep)
			if !lim.AllowN(now, keys[i%keyedTenants], 1) {
				b.Fatal("a tenant under its limit was refused")
			}
			i++
		}
	}},
)

func BenchmarkKeyedSteadyState(b *testing.B) { keyedSteadyState.run(b) }
