// Package suite holds what the benchmarks, the pairing test and the report
// program must agree on: how benchmark implementations are named, which
// module each peer comes from, and Ion's performance bars.
//
// # Naming
//
// Every benchmark is a group, BenchmarkG, whose sub-benchmarks are its
// implementations: G/ion is Ion's, G/<peer> is a peer's twin doing the same
// work (a name from [Peers]), and G/baseline-<what> is a plain-Go reference
// with no pairing. A group named GParallel is the RunParallel (contended)
// variant of group G. The report program pairs G/ion with every G/<peer>.
package suite

import "strings"

// Ion is the implementation name of Ion's side of every group.
const Ion = "ion"

// BaselinePrefix starts the name of every plain-Go reference implementation.
const BaselinePrefix = "baseline-"

// ParallelSuffix ends the name of the contended (RunParallel) variant of a
// group.
const ParallelSuffix = "Parallel"

// Peer is one library Ion is measured against.
type Peer struct {
	Name   string // implementation name in benchmark names
	Module string // module path in bench/go.mod, for its version
	What   string // what is benchmarked of it, for the report
}

// Peers lists every peer implementation name the benchmarks may use.
var Peers = []Peer{
	{"xrate", "golang.org/x/time", "rate.Limiter"},
	{"uber", "go.uber.org/ratelimit", "ratelimit.Limiter (Take)"},
	{"xsync", "golang.org/x/sync", "semaphore.Weighted"},
	{"gobreaker", "github.com/sony/gobreaker/v2", "CircuitBreaker / TwoStepCircuitBreaker"},
	{"gres", "github.com/eapache/go-resiliency", "breaker.Breaker"},
	{"failsafe", "github.com/failsafe-go/failsafe-go", "policies and executors"},
	{"ants", "github.com/panjf2000/ants/v2", "ants.Pool"},
	{"pond", "github.com/alitto/pond/v2", "pond.Pool / ResultPool"},
	{"singleflight", "golang.org/x/sync", "singleflight.Group"},
	{"errgroup", "golang.org/x/sync", "errgroup.Group with SetLimit"},
	{"conc", "github.com/sourcegraph/conc", "pool.ResultContextPool, stream.Stream"},
	{"redisrate", "github.com/go-redis/redis_rate/v10", "redis_rate.Limiter (GCRA on Redis)"},
	{"robfig", "github.com/robfig/cron/v3", "cron.SpecSchedule (ParseStandard, Next)"},
}

// IsPeer reports whether name is a known peer implementation name.
func IsPeer(name string) bool {
	for _, p := range Peers {
		if p.Name == name {
			return true
		}
	}
	return false
}

// IsBaseline reports whether name is a baseline implementation name.
func IsBaseline(name string) bool {
	return strings.HasPrefix(name, BaselinePrefix) && len(name) > len(BaselinePrefix)
}

// Kind says how a bar is checked.
type Kind int

const (
	// Ratio: ion's median ns/op ≤ Max × the peer's, and allocs/op within
	// MaxAllocs (when ≥ 0) — or within the allocs of the baseline
	// AllocsOf when it is set.
	Ratio Kind = iota
	// Contention: every Ion group with a Parallel variant, RunParallel at
	// -cpu=2 ≤ Max × the serial figure at -cpu=1, or ≤ the fastest peer's
	// RunParallel figure at -cpu=2 when that is larger.
	Contention
	// Latency: the loadlat p99 of Ion's composed pipeline ≤ MaxP99Micros.
	Latency
	// AddedCost: what Ion adds over the baseline Base (ion − base) ≤ Max ×
	// what the peer adds over it (peer − base), for adapters whose cost
	// sits on top of work both do (a transport over the same server).
	AddedCost
)

// Bar is one of Ion's performance bars.
type Bar struct {
	What      string   // the bar's name in the report
	Text      string   // the bar as written there
	Kind      Kind     //
	Groups    []string // the benchmark groups it is measured on (Ratio)
	Peer      string   // the peer's implementation name (Ratio)
	Max       float64  // the highest ratio that holds
	MaxAllocs float64  // the highest ion allocs/op that holds; < 0 means unchecked
	AllocsOf  string   // an implementation of the same group whose allocs/op bound ion's
	MaxP99Us  float64  // Latency: p99 bound in microseconds
	Base      string   // AddedCost: the baseline implementation both add to
}

// Bars are Ion's performance bars, one entry per row of the report.
var Bars = []Bar{
	{
		What: "composed limit + sem + breaker, success path", Kind: Ratio,
		Text:   "0 allocs/op; ≤ 0.15× failsafe-go's RateLimiter+Bulkhead+CircuitBreaker",
		Groups: []string{"Composed"}, Peer: "failsafe", Max: 0.15, MaxAllocs: 0,
	},
	{
		What: "limit + sem + breaker + Timeout", Kind: Ratio,
		Text:   "≤ 0.4× failsafe-go; allocations only those of context.WithTimeoutCause",
		Groups: []string{"ComposedTimeout"}, Peer: "failsafe", Max: 0.4, MaxAllocs: -1,
		AllocsOf: "baseline-withtimeoutcause",
	},
	{
		What: "token bucket Allow", Kind: Ratio,
		Text:   "≤ 0.8× golang.org/x/time/rate Limiter.Allow",
		Groups: []string{"Allow"}, Peer: "xrate", Max: 0.8, MaxAllocs: -1,
	},
	{
		What: "semaphore Acquire+Release, TryAcquire+Release", Kind: Ratio,
		Text:   "≤ 1.0× golang.org/x/sync/semaphore",
		Groups: []string{"AcquireRelease", "TryAcquireRelease"}, Peer: "xsync", Max: 1.0, MaxAllocs: -1,
	},
	{
		What: "breaker closed-state success", Kind: Ratio,
		Text:   "≤ 0.25× sony/gobreaker/v2 Execute; 0 allocs",
		Groups: []string{"Breaker"}, Peer: "gobreaker", Max: 0.25, MaxAllocs: 0,
	},
	{
		What: "pool submit-to-completion", Kind: Ratio,
		Text:   "≤ 1.0× panjf2000/ants/v2 per task; 0 allocs per fire-and-forget Submit",
		Groups: []string{"SubmitSize2", "SubmitSize64", "SubmitSize1024"}, Peer: "ants", Max: 1.0, MaxAllocs: 0,
	},
	{
		What: "ionredis limiter, one window, 64 callers, same redis-server", Kind: Ratio,
		Text:   "throughput ≥ 1.0× go-redis/redis_rate, p99 ≤ 1.0× (p99-µs metric); one round trip per decision (rt/op, multi-window too); lease mode ≥ 10× fewer round trips",
		Groups: []string{"RedisAllowParallel"}, Peer: "redisrate", Max: 1.0, MaxAllocs: -1,
	},
	{
		What: "ionhttp client transport", Kind: AddedCost,
		Text:   "added cost per request ≤ 0.5× failsafehttp's (over an in-memory base and a loopback server)",
		Groups: []string{"HTTPClient", "HTTPClientLoopback"}, Peer: "failsafe", Max: 0.5, MaxAllocs: -1,
		Base: "baseline-direct",
	},
	{
		What: "adaptive concurrency limiter, admit path", Kind: Ratio,
		Text:   "≤ 1.0× failsafe-go's adaptive limiter, 0 allocs (goodput and p99 under overload: bench/cmd/overload, TestOverload)",
		Groups: []string{"AdaptiveLimiter"}, Peer: "failsafe", Max: 1.0, MaxAllocs: 0,
	},
	{
		What: "coalesce, per shared call", Kind: Ratio,
		Text:   "≤ 1.0× x/sync/singleflight",
		Groups: []string{"CoalesceShared"}, Peer: "singleflight", Max: 1.0, MaxAllocs: -1,
	},
	{
		What: "cache hit", Kind: Ratio,
		Text:   "≤ 0.5× failsafe-go's cache policy",
		Groups: []string{"CacheHit"}, Peer: "failsafe", Max: 0.5, MaxAllocs: 0,
	},
	{
		What: "stream, 3 stages, against a hand-written channel pipeline", Kind: Ratio,
		Text:   "items/s ≥ 0.8× (time per run ≤ 1.25×)",
		Groups: []string{"Stream"}, Peer: "baseline-channels", Max: 1.25, MaxAllocs: -1,
	},
	{
		What: "stream, 3 stages, against sourcegraph/conc's stream", Kind: Ratio,
		Text:   "items/s ≥ 1.0×",
		Groups: []string{"Stream"}, Peer: "conc", Max: 1.0, MaxAllocs: -1,
	},
	{
		What: "contention (RunParallel, -cpu=2)", Kind: Contention,
		Text: "no hot path slower than 2× its serial figure or its peer's contended figure, whichever is larger; no busy-wait longer than about 1 µs", Max: 2.0, MaxAllocs: -1,
	},
	{
		What: "latency under load (1,000 goroutines)", Kind: Latency,
		Text:     "p99 of a composed call ≤ 2 µs, reported with p50 and p99.9",
		MaxP99Us: 2, MaxAllocs: -1,
	},
}
