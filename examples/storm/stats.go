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

// printTable writes the side-by-side summary of the two runs.
func printTable(w io.Writer, a, b *runStats) {
	row := func(label string, x, y string) { fmt.Fprintf(w, "  %-34s %14s %14s\n", label, x, y) }
	n := func(v int) string { return fmt.Sprint(v) }
	pct := func(v, of int) string {
		if of == 0 {
			return "0"
		}
		return fmt.Sprintf("%d (%.0f%%)", v, 100*float64(v)/float64(of))
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintln(w)
	row("", a.name, b.name)
	row("calls", n(a.total()), n(b.total()))
	row("answered with real data", pct(a.counts[ok], a.total()), pct(b.counts[ok], b.total()))
	row("real data in under 500 ms", pct(a.fast, a.total()), pct(b.fast, b.total()))
	row("answered with fallback", pct(a.counts[fallback], a.total()), pct(b.counts[fallback], b.total()))
	row("shed at once (limit/bulkhead/open)", pct(a.counts[shed], a.total()), pct(b.counts[shed], b.total()))
	row("errors seen by callers", pct(a.counts[failed], a.total()), pct(b.counts[failed], b.total()))
	row("latency p50", ms(a.percentile(0.50)), ms(b.percentile(0.50)))
	row("latency p99", ms(a.percentile(0.99)), ms(b.percentile(0.99)))
	row("breaker trips", n(a.trips), n(b.trips))
	row("calls that reached the dependency", fmt.Sprint(a.reached), fmt.Sprint(b.reached))
	row("... while it was sick", fmt.Sprint(a.sickHits), fmt.Sprint(b.sickHits))
}

// printTimeline writes, per second, the phase, the breaker state and a bar of
// answered calls (real data '#', fallback '+') for the protected run, beside
// the unprotected run's real answers.
func printTimeline(w io.Writer, d time.Duration, a, b *runStats) {
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-4s %-11s %-7s %-28s %s\n", "sec", "phase", "breaker", b.name+" (#=ok +=fallback)", a.name+" (#=ok)")
	most := 1
	for s := 0; s < b.seconds; s++ {
		most = max(most, b.perSec[s][ok]+b.perSec[s][fallback]+b.perSec[s][shed], a.perSec[s][ok])
	}
	bar := func(n, width int, c string) string { return strings.Repeat(c, (n*width+most-1)/most) }
	dep := &dependency{start: b.start, duration: d}
	for s := 0; s < b.seconds; s++ {
		at := b.start.Add(time.Duration(s)*time.Second + time.Second/2)
		state := map[byte]string{'-': "-", 'C': "closed", 'H': "half", 'O': "OPEN"}[b.states[s]]
		pb := bar(b.perSec[s][ok], 24, "#") + bar(b.perSec[s][fallback]+b.perSec[s][shed], 24, "+")
		fmt.Fprintf(w, "  %-4d %-11s %-7s %-28s %s\n", s, dep.phaseAt(at).name, state, pb, bar(a.perSec[s][ok], 24, "#"))
	}
}
