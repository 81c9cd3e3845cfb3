package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/adaptive"
)

// config describes one simulation: the same traffic is offered to every
// variant.
type config struct {
	slots    int           // the server's healthy capacity C, in concurrent calls
	base     time.Duration // the server's service time when idle
	deadline time.Duration // each call's deadline: an answer later than this is no answer
	phase    time.Duration // healthy, then C/2, then C again, each this long
	load     float64       // offered load as a multiple of the healthy capacity
	seed     uint64
}

func defaultConfig() config {
	return config{slots: 20, base: 20 * time.Millisecond, deadline: 100 * time.Millisecond,
		phase: 20 * time.Second, load: 2, seed: 1}
}

// capacity is the healthy server's throughput in calls per second: slots
// calls, each taking base × 1.5 at full load.
func (c config) capacity() float64 {
	return float64(c.slots) / (1.5 * c.base.Seconds())
}

// arrival is one call of the offered traffic.
type arrival struct {
	at     time.Duration // since the start
	prio   adaptive.Priority
	jitter float64 // the call's service time factor, lognormal around 1
}

// mix is the share of the traffic at each priority, lowest first.
var mix = []struct {
	prio  adaptive.Priority
	share float64
}{{adaptive.Sheddable, 0.3}, {adaptive.Low, 0.0}, {adaptive.Normal, 0.4}, {adaptive.High, 0.2}, {adaptive.Critical, 0.1}}

// traffic returns the Poisson arrivals of a run, the same for a seed.
func traffic(c config) []arrival {
	rng := rand.New(rand.NewPCG(c.seed, 0x5eed))
	rate := c.load * c.capacity()
	var out []arrival
	for t := 0.0; ; {
		t += rng.ExpFloat64() / rate
		at := time.Duration(t * float64(time.Second))
		if at >= 3*c.phase {
			return out
		}
		u, prio := rng.Float64(), adaptive.Critical
		for _, m := range mix {
			if u < m.share {
				prio = m.prio
				break
			}
			u -= m.share
		}
		out = append(out, arrival{at: at, prio: prio, jitter: math.Exp(0.2 * rng.NormFloat64())})
	}
}

// caller runs one call of a variant through its limiter. It reports
// whether the call was admitted (ran against the server) and its error.
type caller func(ctx context.Context, call func(ctx context.Context) error) (admitted bool, err error)

// variant is one way of calling the server.
type variant struct {
	name string
	// build returns a fresh caller for one run, and a function reporting
	// the current limit (nil when there is none).
	build func(c config) (caller, func() int)
}

// binLen is the resolution of the time series.
const binLen = time.Second

type bin struct {
	offered, good, admitted, late int
	offeredCrit, goodCrit, limit  int
}

// result is what one variant did on the traffic.
type result struct {
	name string
	bins []bin
	lat  [3][]time.Duration // latency of admitted calls, per phase
}

// simulate runs the traffic through one variant against a fresh server. It
// must run in a synctest bubble: it sleeps through 3 × c.phase of virtual
// time.
func simulate(c config, v variant, arrivals []arrival) *result {
	srv := &server{base: c.base, slots: c.slots}
	call, limit := v.build(c)
	r := &result{name: v.name, bins: make([]bin, int(3*c.phase/binLen)+1)}
	var mu sync.Mutex // guards r
	start := time.Now()
	var wg sync.WaitGroup
	// The capacity drops to half after the first phase and recovers after
	// the second; the timers fire once each.
	t1 := time.AfterFunc(c.phase, func() { srv.setSlots(c.slots / 2) })
	t2 := time.AfterFunc(2*c.phase, func() { srv.setSlots(c.slots) })
	defer t1.Stop()
	defer t2.Stop()
	next := time.Duration(0)
	for _, a := range arrivals {
		if d := a.at - time.Since(start); d > 0 {
			time.Sleep(d)
		}
		for limit != nil && time.Since(start) >= next {
			b := &r.bins[int(next/binLen)]
			mu.Lock()
			b.limit = limit()
			mu.Unlock()
			next += binLen
		}
		wg.Add(1)
		// One goroutine per call, as a server handles requests; each
		// ends when its call returns, and the run waits for all of them.
		go func() {
			defer wg.Done()
			ctx := adaptive.ContextWithPriority(context.Background(), a.prio)
			t0 := time.Now()
			admitted, err := call(ctx, func(ctx context.Context) error { return srv.call(ctx, a.jitter) })
			lat := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			b := &r.bins[int(a.at/binLen)]
			crit := a.prio == adaptive.Critical
			b.offered++
			if crit {
				b.offeredCrit++
			}
			if admitted {
				b.admitted++
				r.lat[int(a.at/c.phase)] = append(r.lat[int(a.at/c.phase)], lat)
			}
			if err == nil && lat <= c.deadline {
				b.good++
				if crit {
					b.goodCrit++
				}
			} else if admitted {
				b.late++
			}
		}()
	}
	wg.Wait()
	return r
}

// rejected reports whether err is a limiter's rejection (the call never
// reached the server).
func rejected(err error) bool { return errors.Is(err, ion.ErrRejected) }

// phaseStats summarises one phase of a result.
type phaseStats struct {
	goodput, critGoodput float64 // answered within the deadline, per second
	critAnswered         float64 // the share of critical calls answered within the deadline
	p50, p99             time.Duration
	settle               time.Duration // from the phase's start until it settled; -1 if it never did
	limitSettle          time.Duration // from the phase's start until the limit settled; -1 without a limit
}

// phase returns the statistics of phase i (0 healthy, 1 halved, 2
// recovered). Goodput of the healthy phase is measured over its second
// half, once every limiter has found its feet; the other phases include
// their transition.
func (r *result) phase(c config, i int) phaseStats {
	per := int(c.phase / binLen)
	bins := r.bins[i*per : (i+1)*per]
	from := 0
	if i == 0 {
		from = per / 2
	}
	var s phaseStats
	offeredCrit := 0
	for _, b := range bins[from:] {
		s.goodput += float64(b.good)
		s.critGoodput += float64(b.goodCrit)
		offeredCrit += b.offeredCrit
	}
	s.critAnswered = s.critGoodput / float64(max(1, offeredCrit))
	secs := float64(len(bins)-from) * binLen.Seconds()
	s.goodput /= secs
	s.critGoodput /= secs
	lat := slices.Clone(r.lat[i])
	slices.Sort(lat)
	s.p50, s.p99 = quantile(lat, 0.5), quantile(lat, 0.99)
	s.settle = settle(bins)
	s.limitSettle = limitSettle(bins)
	return s
}

// settle returns how long after the start of bins the variant settled: the
// start of the first bin from which every later bin of the phase answers at
// least 85 % of the phase's steady goodput (the median of its second half)
// and sees at most 5 % of its admitted calls miss the deadline. It returns
// -1 when it never settles.
func settle(bins []bin) time.Duration {
	steady := make([]int, 0, len(bins)/2)
	for _, b := range bins[len(bins)/2:] {
		steady = append(steady, b.good)
	}
	slices.Sort(steady)
	med := float64(steady[len(steady)/2])
	ok := func(b bin) bool {
		return float64(b.good) >= 0.85*med && float64(b.late) <= 0.05*float64(max(1, b.admitted))
	}
	at := -1
	for i := len(bins) - 1; i >= 0 && ok(bins[i]); i-- {
		at = i
	}
	if at < 0 {
		return -1
	}
	return time.Duration(at) * binLen
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// limitSettle returns how long after the start of bins the limit settled:
// the start of the first bin from which every later bin's limit is within
// 10 % (at least 1) of the median limit of the phase's second half. It
// returns -1 for a variant without a limit.
func limitSettle(bins []bin) time.Duration {
	steady := make([]int, 0, len(bins)/2)
	for _, b := range bins[len(bins)/2:] {
		steady = append(steady, b.limit)
	}
	slices.Sort(steady)
	med := steady[len(steady)/2]
	if med == 0 {
		return -1
	}
	tol := max(1, med/10)
	at := len(bins)
	for i := len(bins) - 1; i >= 0 && b2i(bins[i].limit-med) <= tol; i-- {
		at = i
	}
	return time.Duration(at) * binLen
}

func b2i(x int) int { return max(x, -x) }

// total returns the goodput over the whole run, per second, and the p50
// and p99 latency of every admitted call.
func (r *result) total(c config) (goodput float64, p50, p99 time.Duration) {
	good := 0
	for _, b := range r.bins {
		good += b.good
	}
	var lat []time.Duration
	for _, l := range r.lat {
		lat = append(lat, l...)
	}
	slices.Sort(lat)
	return float64(good) / (3 * c.phase).Seconds(), quantile(lat, 0.5), quantile(lat, 0.99)
}
