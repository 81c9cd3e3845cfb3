package policy_test

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

func TestBudgetSteps(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		at      time.Duration
		deposit int  // calls to deposit first
		want    bool // the result of one withdrawal
	}
	tests := []struct {
		name  string
		ratio float64
		floor int
		steps []step
	}{
		{"nothing allowed", 0, 0, []step{{0, 100, false}, {time.Minute, 100, false}}},
		{"floor only", 0, 2, []step{
			{0, 0, true}, {0, 0, true}, {0, 0, false},
			{999 * time.Millisecond, 0, false}, // the same second
			{time.Second, 0, true},             // a new second refills the floor
		}},
		{"ratio", 0.5, 0, []step{
			{0, 1, false}, // 0.5 × 1 call is less than one retry
			{0, 1, true},  // 0.5 × 2 calls = 1
			{0, 0, false},
			{time.Second, 2, true}, // 4 calls in the window allow 2
			{time.Second, 0, false},
		}},
		{"window slides", 1, 0, []step{
			{0, 3, true}, {0, 0, true},
			{9 * time.Second, 0, true},   // the calls at 0s still count (window 0s..9s)
			{10 * time.Second, 0, false}, // they no longer do; the grant at 9s does
			{10 * time.Second, 2, true},
		}},
		{"ratio then floor", 1, 1, []step{
			{0, 1, true},  // from the ratio
			{0, 0, true},  // from the floor
			{0, 0, false}, // neither
		}},
		{"clock jumps back", 1, 0, []step{
			{time.Hour, 2, true},
			{time.Hour - 5*time.Second, 0, true}, // the calls and grants made "later" still count
			{time.Hour, 0, false},                // 2 grants for 2 calls
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := policy.NewBudget(tc.ratio, tc.floor)
			require.NoError(t, b.Err())
			for i, s := range tc.steps {
				for range s.deposit {
					b.DepositAt(at(s.at))
				}
				assert.Equal(t, s.want, b.WithdrawAt(at(s.at)), "step %d at %v", i, s.at)
			}
		})
	}
}

func TestBudgetBadConfig(t *testing.T) {
	tests := []struct {
		ratio float64
		floor int
		param string
	}{
		{math.NaN(), 0, "NewBudget ratio"},
		{math.Inf(1), 0, "NewBudget ratio"},
		{-0.1, 0, "NewBudget ratio"},
		{0.1, -1, "NewBudget minPerSecond"},
	}
	for _, tc := range tests {
		b := policy.NewBudget(tc.ratio, tc.floor)
		var ce *ion.ConfigError
		require.ErrorAs(t, b.Err(), &ce, "NewBudget(%v, %d)", tc.ratio, tc.floor)
		assert.Equal(t, tc.param, ce.Param)
		b.DepositAt(time.Now())
		assert.False(t, b.WithdrawAt(time.Now()), "an invalid budget never grants an extra attempt")
	}
	var zero policy.Budget
	zero.DepositAt(time.Now())
	assert.False(t, zero.WithdrawAt(time.Now()), "the zero Budget allows nothing")
}

// TestBudgetStress checks under -race that concurrent withdrawals never
// exceed ratio × calls + the floor.
func TestBudgetStress(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := policy.NewBudget(0.25, 3)
	var granted atomic.Int64
	var wg sync.WaitGroup
	const workers, loops = 8, 500
	for range workers {
		wg.Go(func() {
			for range loops {
				b.DepositAt(now)
				if b.WithdrawAt(now) {
					granted.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, granted.Load(), int64(0.25*workers*loops+3))
	assert.GreaterOrEqual(t, granted.Load(), int64(0.25*workers*loops*0.9), "the ratio is granted, not starved")
}

// FuzzBudget drives a Budget with deposits and withdrawals at arbitrary
// times. Properties: no panic; an invalid budget fails closed and grants
// nothing; a valid one never grants more than ratio × calls plus the floor
// for each second in which it granted from the floor.
func FuzzBudget(f *testing.F) {
	f.Add(0.1, 1, []byte{0, 1, 2, 3, 4, 5})
	f.Add(math.NaN(), 0, []byte{1})
	f.Add(2.0, -1, []byte{})
	f.Add(1e300, 1000, []byte{255, 0, 255})
	f.Fuzz(func(t *testing.T, ratio float64, floor int, ops []byte) {
		b := policy.NewBudget(ratio, floor)
		t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		var calls, granted int64
		seconds := map[int64]bool{}
		for _, op := range ops {
			now := t0.Add(time.Duration(op>>2) * 100 * time.Millisecond) // within ~6s: one window
			if op&1 == 0 {
				b.DepositAt(now)
				calls++
			} else if b.WithdrawAt(now) {
				granted++
				seconds[now.Unix()] = true
			}
		}
		if b.Err() != nil {
			checkConfigErr(t, b.Err())
			if granted != 0 {
				t.Fatal("an invalid budget granted an extra attempt")
			}
			return
		}
		limit := ratio*float64(calls) + float64(floor)*float64(len(seconds))
		if float64(granted) > limit {
			t.Fatalf("granted %d extra attempts, limit %v (%d calls)", granted, limit, calls)
		}
	})
}
