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

// TestBudgetSetLimits steps budgets through changes of their limits: the
// calls and grants already counted stay in the window and count against
// the new limits.
func TestBudgetSetLimits(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	type limits struct {
		ratio float64
		floor int
	}
	type step struct {
		at      time.Duration
		set     *limits // SetLimits first, if not nil
		deposit int     // then calls to deposit
		want    bool    // then the result of one withdrawal
	}
	tests := []struct {
		name  string
		start limits
		steps []step
	}{
		{"ratio raised: the calls counted allow more", limits{0.5, 0}, []step{
			{deposit: 2, want: true}, // 1 ≤ 0.5 × 2
			{want: false},
			{set: &limits{1, 0}, want: true}, // 2 ≤ 1 × 2: the two calls still count
			{want: false},
		}},
		{"ratio lowered: the grants counted stay", limits{1, 0}, []step{
			{deposit: 4, want: true}, {want: true}, {want: true},
			{set: &limits{0.5, 0}, want: false}, // 3 granted, 0.5 × 4 = 2 allowed
			{deposit: 4, want: true},            // 4 ≤ 0.5 × 8
		}},
		{"floor lowered within the second", limits{0, 3}, []step{
			{want: true}, {want: true},
			{set: &limits{0, 2}, want: false}, // 2 granted from the floor this second
			{at: time.Second, want: true}, {at: time.Second, want: true}, {at: time.Second, want: false},
		}},
		{"floor raised within the second", limits{0, 1}, []step{
			{want: true}, {want: false},
			{set: &limits{0, 3}, want: true}, {want: true}, {want: false},
		}},
		{"the window slides on", limits{1, 0}, []step{
			{deposit: 3, want: true},
			{at: 9 * time.Second, set: &limits{2, 0}, want: true}, // the calls at 0 s still count: 2 ≤ 6
			{at: 10 * time.Second, want: false},                   // they no longer do; the grant at 9 s does
		}},
		{"zero to something", limits{0, 0}, []step{
			{deposit: 10, want: false},
			{set: &limits{0.1, 0}, want: true}, // the ten calls were counted all along
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := policy.NewBudget(tc.start.ratio, tc.start.floor)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				if s.set != nil {
					require.NoError(t, b.SetLimits(s.set.ratio, s.set.floor), "step %d", i)
				}
				for range s.deposit {
					b.DepositAt(now)
				}
				assert.Equal(t, s.want, b.WithdrawAt(now), "step %d at %v", i, s.at)
			}
		})
	}
}

// An invalid SetLimits changes nothing and names the value; a budget that
// fails closed stays so; the zero Budget takes the limits.
func TestBudgetSetLimitsInvalid(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		ratio float64
		floor int
		param string
	}{
		{math.NaN(), 0, "SetLimits ratio"},
		{math.Inf(1), 0, "SetLimits ratio"},
		{-0.1, 5, "SetLimits ratio"},
		{5, -1, "SetLimits minPerSecond"},
	} {
		b := policy.NewBudget(0.5, 1)
		b.DepositAt(t0)
		b.DepositAt(t0)
		err := b.SetLimits(tc.ratio, tc.floor)
		var ce *ion.ConfigError
		require.ErrorAs(t, err, &ce, "SetLimits(%v, %d)", tc.ratio, tc.floor)
		assert.ErrorIs(t, err, ion.ErrInvalidConfig)
		assert.Equal(t, tc.param, ce.Param)
		assert.NoError(t, b.Err(), "a refused SetLimits does not make the budget fail closed")
		assert.True(t, b.WithdrawAt(t0), "the old ratio: 1 ≤ 0.5 × 2")
		assert.True(t, b.WithdrawAt(t0), "the old floor: 1")
		assert.False(t, b.WithdrawAt(t0), "and nothing more")
	}

	bad := policy.NewBudget(-1, 0)
	assert.Same(t, bad.Err(), bad.SetLimits(1, 1), "a budget that fails closed stays so")
	bad.DepositAt(t0)
	assert.False(t, bad.WithdrawAt(t0))

	var zero policy.Budget
	require.NoError(t, zero.SetLimits(0, 1))
	assert.True(t, zero.WithdrawAt(t0), "the zero Budget took the floor")
	assert.False(t, zero.WithdrawAt(t0))
}

// TestBudgetSetLimitsStress changes the limits while workers deposit and
// withdraw (run with -race): the grants never exceed the highest ratio ×
// calls plus the highest floor.
func TestBudgetSetLimitsStress(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b := policy.NewBudget(0.25, 3)
	var granted atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	var setter sync.WaitGroup
	// The goroutine that changes the limits; exits when stop is closed,
	// joined by setter.Wait.
	setter.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ratio, floor := 0.25, 3
			if i%2 == 0 {
				ratio, floor = 0.5, 1
			}
			if err := b.SetLimits(ratio, floor); err != nil {
				t.Error(err)
				return
			}
		}
	})
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
	close(stop)
	setter.Wait()
	assert.LessOrEqual(t, granted.Load(), int64(0.5*workers*loops+3))
	assert.GreaterOrEqual(t, granted.Load(), int64(0.25*workers*loops*0.9), "the ratio is granted, not starved")
}
