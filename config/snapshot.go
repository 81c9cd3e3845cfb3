package config

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// Snapshot is a point-in-time view of a registry's named primitives, for
// health and debug pages: it encodes to JSON with encoding/json. Maps are
// keyed by the primitives' names.
type Snapshot struct {
	// Generation counts the documents applied: 1 for the one given to New.
	Generation uint64                     `json:"generation"`
	Breakers   map[string]BreakerStatus   `json:"breakers,omitempty"`
	Limiters   map[string]LimiterStatus   `json:"limiters,omitempty"`
	Bulkheads  map[string]BulkheadStatus  `json:"bulkheads,omitempty"`
	Pools      map[string]PoolStatus      `json:"pools,omitempty"`
	Adaptive   map[string]AdaptiveStatus  `json:"adaptive,omitempty"`
	Throttlers map[string]ThrottlerStatus `json:"throttlers,omitempty"`
	// Pipelines lists each pipeline's layers, outermost first, as the
	// document configures them.
	Pipelines map[string][]string `json:"pipelines,omitempty"`
}

// BreakerStatus is a breaker's state and counts, from breaker.Snapshot.
type BreakerStatus struct {
	State string    `json:"state"` // closed, open, half-open, forced-open or disabled.
	Since time.Time `json:"since"`
	// Until is when an open breaker lets probes through; absent in every
	// other state.
	Until   time.Time `json:"until,omitzero"`
	Healthy bool      `json:"healthy"` // breaker.Snapshot.IsHealthy.
	// Requests, Successes and Failures count the current state's calls.
	Requests  int64 `json:"requests"`
	Successes int64 `json:"successes"`
	Failures  int64 `json:"failures"`
	// The totals since the breaker was built.
	TotalSuccesses int64   `json:"total_successes"`
	TotalFailures  int64   `json:"total_failures"`
	TotalIgnored   int64   `json:"total_ignored"`
	TotalRejected  int64   `json:"total_rejected"`
	SlowCalls      int64   `json:"slow_calls"`
	FailureRate    float64 `json:"failure_rate"`
	SlowCallRate   float64 `json:"slow_call_rate"`
}

// LimiterStatus is a rate limiter's limits and the tokens it has now.
type LimiterStatus struct {
	Kind string `json:"kind"` // token-bucket, leaky-bucket or all.
	// Rate is the rate in force, such as "10/s" or "inf"; empty for all.
	Rate string `json:"rate,omitempty"`
	// Burst is a token bucket's burst, Capacity a leaky bucket's capacity.
	Burst    int `json:"burst,omitempty"`
	Capacity int `json:"capacity,omitempty"`
	// Tokens are the tokens (room, for a leaky bucket) available now, one
	// per member for all; -1 for an unlimited rate.
	Tokens []float64 `json:"tokens"`
	// Members are the names of an all limiter's members.
	Members []string `json:"members,omitempty"`
}

// BulkheadStatus is a bulkhead's permits.
type BulkheadStatus struct {
	Capacity  int64 `json:"capacity"`
	InUse     int64 `json:"in_use"`
	Available int64 `json:"available"`
	Waiting   int   `json:"waiting"`
}

// PoolStatus is a pool's state and counters, from pool.Snapshot.
type PoolStatus struct {
	Size      int    `json:"size"`
	Workers   int    `json:"workers"`
	QueueSize int    `json:"queue_size"`
	Queued    int    `json:"queued"`
	Running   int    `json:"running"`
	Blocked   int    `json:"blocked"`
	Closed    bool   `json:"closed"`
	Completed uint64 `json:"completed"`
	Failed    uint64 `json:"failed"`
	Panicked  uint64 `json:"panicked"`
	Rejected  uint64 `json:"rejected"`
	Expired   uint64 `json:"expired"`
	Shed      uint64 `json:"shed"`
	Discarded uint64 `json:"discarded"`
}

// AdaptiveStatus is an adaptive limiter's limit and load, from
// adaptive.Stats.
type AdaptiveStatus struct {
	Limit     int      `json:"limit"`
	InFlight  int      `json:"in_flight"`
	Queued    int      `json:"queued"`
	RTT       Duration `json:"rtt"`
	NoLoadRTT Duration `json:"no_load_rtt"`
}

// ThrottlerStatus is a client-side throttler's current rejection rate.
type ThrottlerStatus struct {
	// RejectionRate is the share of calls rejected now, in [0, 1].
	RejectionRate float64 `json:"rejection_rate"`
}

// Snapshot returns the state of every named primitive of the document in
// force. It takes each primitive's own snapshot in turn, so the primitives
// are not frozen together; it does not block calls, and allocates the maps
// it returns.
func (r *Registry) Snapshot() Snapshot {
	g := r.current()
	now := time.Now()
	s := Snapshot{Generation: g.seq}
	if len(g.breakers) > 0 {
		s.Breakers = map[string]BreakerStatus{}
	}
	for name, b := range g.breakers {
		bs := b.Snapshot()
		s.Breakers[name] = BreakerStatus{
			State: bs.State.String(), Since: bs.Since, Until: bs.Until, Healthy: bs.IsHealthy(),
			Requests: bs.Counts.Requests, Successes: bs.Counts.Successes, Failures: bs.Counts.Failures,
			TotalSuccesses: bs.Successes, TotalFailures: bs.Failures, TotalIgnored: bs.Ignored,
			TotalRejected: bs.Rejected, SlowCalls: bs.SlowCalls,
			FailureRate: finite(bs.FailureRate), SlowCallRate: finite(bs.SlowCallRate),
		}
	}
	if len(g.limiters) > 0 {
		s.Limiters = map[string]LimiterStatus{}
	}
	for name, e := range g.limiters {
		ls := LimiterStatus{Kind: g.doc.Limiters[name].kind()}
		switch {
		case e.tb != nil:
			ls.Rate, ls.Burst, ls.Tokens = Rate(e.tb.Rate()).String(), e.tb.Burst(), []float64{tokens(e.tb.TokensAt(now))}
		case e.lb != nil:
			ls.Rate, ls.Capacity, ls.Tokens = Rate(e.lb.Rate()).String(), e.lb.Capacity(), []float64{tokens(e.lb.TokensAt(now))}
		default:
			ls.Members = g.doc.Limiters[name].Members
			for _, t := range e.all.TokensAt(now) {
				ls.Tokens = append(ls.Tokens, tokens(t))
			}
		}
		s.Limiters[name] = ls
	}
	if len(g.bulkheads) > 0 {
		s.Bulkheads = map[string]BulkheadStatus{}
	}
	for name, w := range g.bulkheads {
		s.Bulkheads[name] = BulkheadStatus{Capacity: w.Capacity(), InUse: w.InUse(), Available: w.Available(), Waiting: w.Waiting()}
	}
	if len(g.pools) > 0 {
		s.Pools = map[string]PoolStatus{}
	}
	for name, pl := range g.pools {
		ps := pl.Snapshot()
		s.Pools[name] = PoolStatus{Size: ps.Size, Workers: ps.Workers, QueueSize: ps.QueueSize, Queued: ps.Queued,
			Running: ps.Running, Blocked: ps.Blocked, Closed: ps.Closed, Completed: ps.Completed, Failed: ps.Failed,
			Panicked: ps.Panicked, Rejected: ps.Rejected, Expired: ps.Expired, Shed: ps.Shed, Discarded: ps.Discarded}
	}
	if len(g.adaptive) > 0 {
		s.Adaptive = map[string]AdaptiveStatus{}
	}
	for name, l := range g.adaptive {
		st := l.Stats()
		s.Adaptive[name] = AdaptiveStatus{Limit: st.Limit, InFlight: st.InFlight, Queued: st.Queued,
			RTT: Duration(st.RTT), NoLoadRTT: Duration(st.NoLoadRTT)}
	}
	if len(g.throttlers) > 0 {
		s.Throttlers = map[string]ThrottlerStatus{}
	}
	for name, th := range g.throttlers {
		s.Throttlers[name] = ThrottlerStatus{RejectionRate: finite(th.RejectionRate())}
	}
	if len(g.doc.Pipelines) > 0 {
		s.Pipelines = map[string][]string{}
	}
	for name, c := range g.doc.Pipelines {
		s.Pipelines[name] = c.describe()
	}
	return s
}

// describe returns the pipeline's layers, outermost first, in words.
func (c PipelineConfig) describe() []string {
	layers := []string{}
	for _, kind := range c.order() {
		switch kind {
		case "fallback":
			layers = append(layers, "fallback("+c.Fallback.Use+")")
		case "retry":
			layers = append(layers, "retry")
		case "hedge":
			layers = append(layers, "hedge("+c.Hedge.Delay.String()+")")
		case "breaker":
			layers = append(layers, "breaker("+c.Breaker+")")
		case "throttler":
			layers = append(layers, "throttler("+c.Throttler+")")
		case "adaptive":
			layers = append(layers, "adaptive("+c.Adaptive+")")
		case "limiter":
			layers = append(layers, "limiter("+c.Limiter.Use+")")
		case "bulkhead":
			layers = append(layers, "bulkhead("+c.Bulkhead.Use+")")
		case "pool":
			layers = append(layers, "pool("+c.Pool+")")
		case "timeout":
			layers = append(layers, "timeout("+c.Timeout.After.String()+")")
		case "chaos":
			layers = append(layers, "chaos")
		}
	}
	return layers
}

// finite returns f, or 0 when f is NaN or infinite, which JSON cannot hold.
func finite(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return f
}

// tokens returns t, or -1 for the unlimited tokens of an infinite rate.
func tokens(t float64) float64 {
	if math.IsInf(t, 1) || t > 1<<53 {
		return -1
	}
	return finite(t)
}

// ServeHTTP serves the registry's [Snapshot] as JSON to GET and HEAD
// requests (200, application/json, not cacheable), for health and debug
// pages; other methods get 405. Mount it where only operators can reach
// it: it shows the names and limits of the application's dependencies.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := json.MarshalIndent(r.Snapshot(), "", "  ")
	if err != nil { // cannot happen: every float is made finite
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if req.Method == http.MethodGet {
		w.Write(append(body, '\n'))
	}
}
