package torture

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/breaker"
	"github.com/ionkit/ion/policy"
)

// TestNestedClassifiers builds random trees of nested pipelines, some with a
// classifier of their own, with a probe layer at every position, and drives
// them from many goroutines. Every probe must classify with the classifier
// of the closest pipeline around it that has one, or with the default when
// none has: a classifier never reaches a layer outside its own pipeline,
// whatever the nesting, the position of the nested pipeline (first, middle,
// last) or the concurrency.
func TestNestedClassifiers(t *testing.T) {
	for i := range 8 {
		seed := seedOf(i) ^ 0xc1a5
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { runNestedClassifiers(t, seed) })
	}
}

// classifierTree is a random tree of pipelines. Each classifier returns a
// marker outcome unique to its pipeline (a value no real classifier returns,
// so that a leak cannot go unseen); each probe knows the marker it must see.
type classifierTree struct {
	seed      uint64
	n         uint64 // draws made
	markers   int
	probes    int
	anomalies atomic.Int64
	first     sync.Once
	firstMsg  string
}

func (ct *classifierTree) draw(k uint64) uint64 {
	ct.n++
	return mix(ct.seed^mix(ct.n)) % k
}

// build returns a pipeline of depth at most depth whose layers without a
// classifier of their own see want (0 for the default).
func (ct *classifierTree) build(depth int, want policy.Outcome) *policy.Pipeline[int] {
	own := ct.draw(2) == 0
	if own {
		ct.markers++
		want = policy.Outcome(10 + ct.markers)
	}
	var layers []policy.Policy[int]
	for range 1 + ct.draw(4) {
		if depth > 0 && ct.draw(3) == 0 {
			layers = append(layers, ct.build(depth-1, want))
			continue
		}
		layers = append(layers, ct.probe(want))
	}
	p := policy.Compose(layers...)
	if own {
		m := want
		p = p.WithClassifier(func(int, error) policy.Outcome { return m })
	}
	return p
}

// probe returns a layer that checks the outcome it sees against want (0:
// the default, Success for a nil error and Failure otherwise).
func (ct *classifierTree) probe(want policy.Outcome) policy.Policy[int] {
	ct.probes++
	id := ct.probes
	return policy.New(fmt.Sprint("probe", id), func(ctx context.Context, next policy.Next[int]) (int, error) {
		v, err := next.Call(ctx)
		exp := want
		if exp == 0 {
			exp = policy.Success
			if err != nil {
				exp = policy.Failure
			}
		}
		if got := next.Classify(ctx, v, err); got != exp {
			ct.anomalies.Add(1)
			ct.first.Do(func() { ct.firstMsg = fmt.Sprintf("probe %d classified (%d, %v) as %v, want %v", id, v, err, got, exp) })
		}
		return v, err
	})
}

func runNestedClassifiers(t *testing.T, seed uint64) {
	ct := &classifierTree{seed: seed}
	// The root has no classifier, so that the default is exercised too;
	// the tree under it is random.
	root := policy.Compose[int](ct.probe(0), ct.build(4, 0), ct.probe(0))
	errBoom := errors.New("boom")

	callers := min(*callersFlag, 64)
	var wg sync.WaitGroup
	for c := range callers {
		// Owner: this test. Exit: after its calls. Join: wg.Wait below.
		wg.Go(func() {
			for i := range 20 {
				fail := mix(seed^uint64(c*1000+i))%2 == 0
				_, _ = root.Run(context.Background(), func(context.Context) (int, error) {
					if fail {
						return 0, errBoom
					}
					return 1, nil
				})
			}
		})
	}
	wg.Wait()
	require.Zero(t, ct.anomalies.Load(), "%s (tree: %s; -torture.seed=%d)", ct.firstMsg, treeString(root), seed)
}

func treeString(p *policy.Pipeline[int]) string {
	return strings.Join(p.Layers(), " → ")
}

// TestNestedClassifierDoesNotBlindOuterBreaker is the user-visible form of
// a classifier leaking outward: a nested pipeline that calls every result a
// success, composed before a breaker, made the breaker count the dependency's
// errors as successes, so it never tripped.
func TestNestedClassifierDoesNotBlindOuterBreaker(t *testing.T) {
	cb := breaker.New("dependency", breaker.WithConsecutiveFailures(5))
	allOK := func(int, error) policy.Outcome { return policy.Success }
	nested := policy.Compose[int](policy.Retry[int](policy.WithAttempts(1))).WithClassifier(allOK)
	p := policy.Compose(nested, breaker.Policy[int](cb))
	for range 5 {
		_, _ = p.Run(context.Background(), func(context.Context) (int, error) { return 0, errors.New("down") })
	}
	assert.Equal(t, breaker.Open, cb.State(), "five failures after the nested pipeline must trip the breaker")
}
