package policy_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
	"github.com/ionkit/ion/policy/policytest"
)

type tenantKey struct{}

// tenantOf is a key function reading the tenant a caller put in the ctx.
func tenantOf(ctx context.Context) (string, error) {
	t, ok := ctx.Value(tenantKey{}).(string)
	if !ok {
		return "", errors.New("no tenant in ctx")
	}
	return t, nil
}

func withTenant(ctx context.Context, t string) context.Context {
	return context.WithValue(ctx, tenantKey{}, t)
}

// countingPolicy counts the calls that ran through it.
type countingPolicy struct{ calls atomic.Int64 }

func (c *countingPolicy) Execute(ctx context.Context, next policy.Next[int]) (int, error) {
	c.calls.Add(1)
	return next.Call(ctx)
}

// builder builds a countingPolicy per key and remembers them in build order.
type builder struct {
	mu    sync.Mutex
	built map[string][]*countingPolicy
}

func newBuilder() *builder { return &builder{built: map[string][]*countingPolicy{}} }

func (b *builder) build(key string) policy.Policy[int] {
	p := &countingPolicy{}
	b.mu.Lock()
	b.built[key] = append(b.built[key], p)
	b.mu.Unlock()
	return p
}

func (b *builder) builds(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.built[key])
}

func ok(context.Context) (int, error) { return 1, nil }

func TestKeyedRoutesEachKeyToItsPolicy(t *testing.T) {
	b := newBuilder()
	k := policy.Keyed(tenantOf, b.build)
	require.NoError(t, k.Err())
	for _, tenant := range []string{"a", "b", "a", "a", "c"} {
		v, err := policy.Run(withTenant(t.Context(), tenant), k, ok)
		require.NoError(t, err)
		assert.Equal(t, 1, v)
	}
	assert.Equal(t, 1, b.builds("a"), "a key's policy is built once while held")
	assert.Equal(t, int64(3), b.built["a"][0].calls.Load(), "every call with key a ran through a's policy")
	assert.Equal(t, int64(1), b.built["b"][0].calls.Load())
	assert.Equal(t, 3, k.Len())
}

func TestKeyedMaxKeysEvictsLeastRecentlyUsed(t *testing.T) {
	b := newBuilder()
	k := policy.Keyed(tenantOf, b.build, policy.WithMaxKeys(2), policy.WithIdleTTL(0))
	for _, tenant := range []string{"a", "b", "a", "c"} { // c evicts b, the least recently used
		_, err := policy.Run(withTenant(t.Context(), tenant), k, ok)
		require.NoError(t, err)
	}
	assert.Equal(t, 2, k.Len(), "Len() never exceeds WithMaxKeys")
	_, _ = policy.Run(withTenant(t.Context(), "a"), k, ok)
	assert.Equal(t, 1, b.builds("a"), "a was used recently and kept")
	_, _ = policy.Run(withTenant(t.Context(), "b"), k, ok)
	assert.Equal(t, 2, b.builds("b"), "b was evicted, so its policy is built again")
}

func TestKeyedNeverEvictsKeyInUse(t *testing.T) {
	b := newBuilder()
	k := policy.Keyed(tenantOf, b.build, policy.WithMaxKeys(1))
	inside := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error)
	// Owner: this test. Exit: when release is closed. Join: <-done.
	go func() {
		_, err := policy.Run(withTenant(t.Context(), "a"), k, func(context.Context) (int, error) {
			close(inside)
			<-release
			return 1, nil
		})
		done <- err
	}()
	<-inside
	_, err := policy.Run(withTenant(t.Context(), "b"), k, ok)
	assert.ErrorIs(t, err, policy.ErrTooManyKeys, "the only key is in use: a new key is refused")
	assert.ErrorIs(t, err, ion.ErrRejected)
	close(release)
	require.NoError(t, <-done)
	_, err = policy.Run(withTenant(t.Context(), "b"), k, ok)
	assert.NoError(t, err, "once a's call ended, a can be evicted for b")
	assert.Equal(t, 1, k.Len())
}

func TestKeyedIdleTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBuilder()
		k := policy.Keyed(tenantOf, b.build, policy.WithIdleTTL(time.Minute))
		run := func(tenant string) {
			_, err := policy.Run(withTenant(t.Context(), tenant), k, ok)
			require.NoError(t, err)
		}
		run("a")
		time.Sleep(59 * time.Second)
		run("b")
		assert.Equal(t, 2, k.Len(), "a is 59s idle: kept")
		time.Sleep(time.Second)
		run("b")
		assert.Equal(t, 1, k.Len(), "a is 60s idle: forgotten by the next call")
		run("a")
		assert.Equal(t, 2, b.builds("a"), "a forgotten key gets a fresh policy")
		assert.Equal(t, 1, b.builds("b"))
	})
}

func TestKeyedIdleTTLSparesLongCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBuilder()
		k := policy.Keyed(tenantOf, b.build, policy.WithIdleTTL(time.Second))
		done := make(chan struct{})
		// Owner: this test. Exit: after the 5s call. Join: <-done.
		go func() {
			defer close(done)
			_, _ = policy.Run(withTenant(t.Context(), "slow"), k, policytest.Latency(5*time.Second, 1))
		}()
		time.Sleep(3 * time.Second)
		_, err := policy.Run(withTenant(t.Context(), "other"), k, ok)
		require.NoError(t, err)
		assert.Equal(t, 2, k.Len(), "a key with a call in flight is never forgotten")
		<-done
		assert.Equal(t, 1, b.builds("slow"))
	})
}

func TestKeyedBadInput(t *testing.T) {
	build := func(string) policy.Policy[int] { return policy.Compose[int]() }
	cases := []struct {
		name  string
		k     *policy.KeyedLayer[int, string]
		param string
	}{
		{"nil key", policy.Keyed[int, string](nil, build), "key"},
		{"nil build", policy.Keyed[int, string](tenantOf, nil), "build"},
		{"max keys 0", policy.Keyed(tenantOf, build, policy.WithMaxKeys(0)), "WithMaxKeys"},
		{"negative ttl", policy.Keyed(tenantOf, build, policy.WithIdleTTL(-time.Second)), "WithIdleTTL"},
		{"nil option", policy.Keyed(tenantOf, build, nil), "option 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := policy.Run(withTenant(t.Context(), "a"), tc.k, ok)
			policytest.AssertInvalidConfig(t, err, tc.param)
			assert.Equal(t, err, tc.k.Err())
			assert.Contains(t, tc.k.String(), "invalid")
		})
	}

	t.Run("nil policy from build", func(t *testing.T) {
		k := policy.Keyed(tenantOf, func(string) policy.Policy[int] { return nil })
		_, err := policy.Run(withTenant(t.Context(), "a"), k, ok)
		policytest.AssertInvalidConfig(t, err, "build")
		assert.Equal(t, 0, k.Len(), "a failed build holds no key")
	})
	t.Run("key error", func(t *testing.T) {
		calls := 0
		k := policy.Keyed(tenantOf, build)
		_, err := policy.Run(t.Context(), k, func(context.Context) (int, error) { calls++; return 0, nil })
		assert.ErrorContains(t, err, "policy: keyed: key: no tenant in ctx")
		assert.Zero(t, calls, "a call without a key is not run")
	})
}

func TestKeyedPanicReleasesKey(t *testing.T) {
	b := newBuilder()
	k := policy.Keyed(tenantOf, b.build, policy.WithMaxKeys(1))
	assert.Panics(t, func() {
		_, _ = policy.Run(withTenant(t.Context(), "a"), k, func(context.Context) (int, error) { panic("boom") })
	})
	_, err := policy.Run(withTenant(t.Context(), "b"), k, ok)
	assert.NoError(t, err, "the panicking call released key a, so it could be evicted")
}

func TestKeyedStress(t *testing.T) {
	b := newBuilder()
	const maxKeys = 8
	k := policy.Keyed(tenantOf, b.build, policy.WithMaxKeys(maxKeys))
	var wg sync.WaitGroup
	var refused atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				ctx := withTenant(context.Background(), fmt.Sprint((g*7+i)%20))
				_, err := policy.Run(ctx, k, ok)
				if errors.Is(err, policy.ErrTooManyKeys) {
					refused.Add(1)
					continue
				}
				if !assert.NoError(t, err) {
					return
				}
				if n := k.Len(); n > maxKeys {
					t.Errorf("Len() = %d, want at most %d", n, maxKeys)
					return
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, k.Len(), maxKeys)
	assert.Zero(t, refused.Load(), "8 goroutines never hold more than 8 keys at once, so none is refused")
}

func TestKeyedAllocs(t *testing.T) {
	k := policy.Keyed(tenantOf, func(string) policy.Policy[int] { return &countingPolicy{} })
	ctx := withTenant(context.Background(), "a")
	_, _ = policy.Run(ctx, k, ok)
	allocs := testing.AllocsPerRun(100, func() { _, _ = policy.Run(ctx, k, ok) })
	assert.Zero(t, allocs, "a call with a known key does not allocate")
}

// ExampleKeyed gives each tenant a bulkhead of its own: one tenant's burst
// does not take the others' capacity.
func ExampleKeyed() {
	perTenant := policy.Keyed(tenantOf, func(tenant string) policy.Policy[string] {
		fmt.Println("new policy for", tenant)
		return policy.Retry[string](policy.WithAttempts(2), policy.WithBackoff(policy.Constant(0)))
	}, policy.WithMaxKeys(1000), policy.WithIdleTTL(time.Hour))

	for _, tenant := range []string{"acme", "globex", "acme"} {
		v, err := policy.Run(withTenant(context.Background(), tenant), perTenant, func(context.Context) (string, error) {
			return "hello " + tenant, nil
		})
		fmt.Println(v, err)
	}
	fmt.Println(perTenant.Len(), "tenants held")
	// Output:
	// new policy for acme
	// hello acme <nil>
	// new policy for globex
	// hello globex <nil>
	// hello acme <nil>
	// 2 tenants held
}
