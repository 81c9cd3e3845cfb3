package main

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestOverload runs the simulation in virtual time and asserts what the
// README claims of it: with no limiter the dependency collapses; Ion's
// limiter answers at least as many calls in time as failsafe-go's, with a
// lower p99, its limit settling within a few sample windows of each
// capacity change; with priorities, critical calls keep at least 95 % of
// their healthy goodput while the capacity is halved. It runs the default
// scenario and one with a deadline tight enough that a limit set for the
// healthy dependency breaks when the capacity halves.
func TestOverload(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration
	}{{"deadline 100ms", 100 * time.Millisecond}, {"deadline 60ms", 60 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := defaultConfig()
				c.deadline = tc.deadline
				rs := runAll(c)
				t.Log("\n" + table(c, rs))
				by := map[string]*result{}
				for _, r := range rs {
					by[r.name] = r
				}
				none, fs, ion, prio := by["no limiter"], by["failsafe-go adaptive"], by["Ion adaptive"], by["Ion adaptive + priorities"]

				g, _, _ := none.total(c)
				assert.Less(t, g, 0.1*c.capacity(), "without a limiter the overloaded dependency answers almost nothing in time")

				fsGood, _, fsP99 := fs.total(c)
				ionGood, _, ionP99 := ion.total(c)
				assert.GreaterOrEqual(t, ionGood, fsGood, "Ion's goodput over the run is at least failsafe-go's")
				assert.Less(t, ionP99, fsP99, "Ion's p99 over the run is lower than failsafe-go's")
				for i, name := range []string{"healthy", "halved", "recovered"} {
					ip, fp := ion.phase(c, i), fs.phase(c, i)
					assert.GreaterOrEqual(t, ip.goodput, 0.98*fp.goodput, "%s: Ion's goodput is within 2 %% of failsafe-go's or above", name)
					assert.LessOrEqual(t, ip.p99, fp.p99, "%s: Ion's p99 is at most failsafe-go's", name)
				}
				// Ion's windows are 250 ms: "a few windows" is at most 2 s.
				for i, name := range []string{"halving", "recovery"} {
					s := ion.phase(c, i+1)
					assert.GreaterOrEqual(t, s.settle, time.Duration(0), "Ion's goodput settles after %s", name)
					assert.LessOrEqual(t, s.settle, 2*time.Second, "Ion's goodput settles within 8 windows of the %s", name)
				}

				if tc.deadline == 100*time.Millisecond {
					h, d := prio.phase(c, 0), prio.phase(c, 1)
					assert.GreaterOrEqual(t, d.critAnswered, 0.95*h.critAnswered,
						"with priorities, critical calls keep 95 %% of their healthy goodput while the capacity is halved")
				}
			})
		})
	}
}
