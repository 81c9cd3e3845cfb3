package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// result is how one request ended, as its caller saw it.
type result int

const (
	ok       result = iota // the real answer
	fallback               // a degraded answer from Fallback
	shed                   // rejected by Ion at once (limiter, bulkhead, breaker)
	failed                 // an error reached the caller
)

// fastLimit is the latency under which a real answer counts as on time.
const fastLimit = 500 * time.Millisecond

// runStats collects what one pass of the traffic saw.
type runStats struct {
	name     string
	start    time.Time
	seconds  int
	mu       sync.Mutex // guards the fields below
	lat      []time.Duration
	fast     int // real answers in under fastLimit
	counts   [4]int
	perSec   [][4]int // results by second since start
	states   []byte   // breaker state by second: 'C' closed, 'O' open, 'H' half-open, '-' none
	trips    int
	reached  int64 // calls that reached the dependency
	sickHits int64 // of those, while it was sick
}

func newRun(name string, start time.Time, seconds int) *runStats {
	r := &runStats{name: name, start: start, seconds: seconds, perSec: make([][4]int, seconds), states: make([]byte, seconds)}
	for i := range r.states {
		r.states[i] = '-'
	}
	return r
}

func (r *runStats) record(res result, lat time.Duration, at time.Time) {
	sec := min(max(int(at.Sub(r.start)/time.Second), 0), r.seconds-1)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[res]++
	if res == ok && lat < fastLimit {
		r.fast++
	}
	r.perSec[sec][res]++
	r.lat = append(r.lat, lat)
}

// markState records the breaker state seen during a second; open wins over
// half-open, which wins over closed, so the chart shows the worst moment.
func (r *runStats) markState(at time.Time, s byte) {
	sec := int(at.Sub(r.start) / time.Second)
	if sec < 0 || sec >= r.seconds {
		return
	}
	rank := map[byte]int{'-': 0, 'C': 1, 'H': 2, 'O': 3}
	r.mu.Lock()
	defer r.mu.Unlock()
	if rank[s] > rank[r.states[sec]] {
		r.states[sec] = s
	}
}

func (r *runStats) count(res result) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[res]
}

func (r *runStats) total() int {
	return r.counts[ok] + r.counts[fallback] + r.counts[shed] + r.counts[failed]
}

func (r *runStats) percentile(p float64) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[min(int(p*float64(len(s))), len(s)-1)]
}

// printTable writes the side-by-side summary of the runs.
func printTable(w io.Writer, runs ...*runStats) {
	row := func(label string, cell func(r *runStats) string) {
		fmt.Fprintf(w, "  %-38s", label)
		for _, r := range runs {
			fmt.Fprintf(w, " %17s", cell(r))
		}
		fmt.Fprintln(w)
	}
	pct := func(pick func(r *runStats) int) func(r *runStats) string {
		return func(r *runStats) string {
			v, of := pick(r), r.total()
			if of == 0 {
				return "0"
			}
			return fmt.Sprintf("%d (%.0f%%)", v, 100*float64(v)/float64(of))
		}
	}
	ms := func(p float64) func(r *runStats) string {
		return func(r *runStats) string {
			return fmt.Sprintf("%.0f ms", float64(r.percentile(p))/float64(time.Millisecond))
		}
	}
	fmt.Fprintln(w)
	row("", func(r *runStats) string { return r.name })
	row("calls", func(r *runStats) string { return fmt.Sprint(r.total()) })
	row("answered with real data", pct(func(r *runStats) int { return r.counts[ok] }))
	row("real data in under 500 ms", pct(func(r *runStats) int { return r.fast }))
	row("from cache after a failure", pct(func(r *runStats) int { return r.counts[fallback] }))
	row("from cache at once (limit/bulkhead/open)", pct(func(r *runStats) int { return r.counts[shed] }))
	row("errors seen by callers", pct(func(r *runStats) int { return r.counts[failed] }))
	row("latency p50", ms(0.50))
	row("latency p99", ms(0.99))
	row("latency max", ms(1))
	row("breaker trips", func(r *runStats) string { return fmt.Sprint(r.trips) })
	row("calls that reached the dependency", func(r *runStats) string { return fmt.Sprint(r.reached) })
	row("... while it was sick", func(r *runStats) string { return fmt.Sprint(r.sickHits) })
}

// barWidth is the width of one run's bar in the timeline.
const barWidth = 20

// printTimeline writes, per second, the phase, the breaker state and, for
// each run, a bar of its answers: real data '#', from cache '+'. Every bar
// is scaled to the busiest second and is at most barWidth wide.
func printTimeline(w io.Writer, d time.Duration, runs ...*runStats) {
	ion := runs[len(runs)-1] // the run with the breaker
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-4s %-11s %-7s", "sec", "phase", "breaker")
	for _, r := range runs {
		fmt.Fprintf(w, " %-*s", barWidth+1, r.name)
	}
	fmt.Fprintf(w, "\n  %-24s", "")
	for range runs {
		fmt.Fprintf(w, " %-*s", barWidth+1, "(#=real +=cache)")
	}
	fmt.Fprintln(w)
	most := 1
	for _, r := range runs {
		for s := 0; s < r.seconds; s++ {
			most = max(most, r.perSec[s][ok]+r.perSec[s][fallback]+r.perSec[s][shed])
		}
	}
	// cols scales n answers to columns, rounding to nearest, so the real
	// and cached parts of a bar add up to the bar of their sum.
	cols := func(n int) int { return (n*barWidth + most/2) / most }
	dep := &dependency{start: ion.start, duration: d}
	for s := 0; s < ion.seconds; s++ {
		at := ion.start.Add(time.Duration(s)*time.Second + time.Second/2)
		state := map[byte]string{'-': "-", 'C': "closed", 'H': "half", 'O': "OPEN"}[ion.states[s]]
		fmt.Fprintf(w, "  %-4d %-11s %-7s", s, dep.phaseAt(at).name, state)
		for _, r := range runs {
			real := r.perSec[s][ok]
			all := cols(real + r.perSec[s][fallback] + r.perSec[s][shed])
			bar := strings.Repeat("#", cols(real)) + strings.Repeat("+", all-cols(real))
			fmt.Fprintf(w, " %-*s", barWidth+1, bar)
		}
		fmt.Fprintln(w)
	}
}
