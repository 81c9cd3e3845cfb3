// Command report turns a raw benchmark run of the bench module into
// RESULTS.md: the medians of every benchmark, the Ion/peer ratio of every
// pair, the Performance bars with their measured ratios and verdicts, the
// latency-under-load figures of cmd/loadlat, the machine and the peer
// versions. bench/run.sh calls it; it reads only files.
//
// Usage:
//
//	go run ./cmd/report -raw results.txt -gomod go.mod [-loadlat loadlat.json]
//	    [-benchstat benchstat.txt] [-findings findings.md] -out RESULTS.md
//
// The run is described by "key: value" lines in the raw output, which
// benchstat also reads as configuration: go test writes goos, goarch and cpu
// (the CPU model); run.sh adds date, go, nproc, count, benchtime, cpus (the
// -cpu list), load-before and load-after.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ionkit/ion/bench/internal/suite"
)

// key names one benchmark implementation at one -cpu value.
type key struct {
	group, impl string
	cpu         int
}

// sample is one line of benchmark output. added is the added-ns/op metric
// of a paired benchmark (one that times its implementation against the
// base in alternation), when hasAdded.
type sample struct {
	ns, bytes, allocs, added float64
	hasAdded                 bool
}

// stats are the medians of a key's samples.
type stats struct {
	n                int
	ns, bytes, alloc float64
	spread           float64 // (max-min)/median of ns/op
	added            float64 // the median added-ns/op, when paired
	paired           bool    // every sample has added-ns/op
}

// run is a parsed raw benchmark output.
type run struct {
	samples map[key][]sample
	order   []string // groups in order of first appearance
	impls   map[string][]string
	cpus    []int
	meta    map[string]string // the "key: value" configuration lines
}

var (
	suffix   = regexp.MustCompile(`-(\d+)$`)
	metaLine = regexp.MustCompile(`^([a-z][a-z0-9-]*): (.*)$`)
)

// parse reads go test -bench output. Besides the results it keeps the
// configuration lines ("key: value", as go test writes goos: and cpu:, and
// run.sh adds count:, benchtime: and the like).
func parse(r io.Reader) (*run, error) {
	out := &run{samples: map[key][]sample{}, impls: map[string][]string{}, meta: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := metaLine.FindStringSubmatch(line); m != nil {
			out.meta[m[1]] = strings.TrimSpace(m[2])
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		cpu := 1
		if m := suffix.FindStringSubmatch(name); m != nil {
			cpu, _ = strconv.Atoi(m[1])
			name = strings.TrimSuffix(name, m[0])
		}
		group, impl, ok := strings.Cut(name, "/")
		if !ok {
			continue
		}
		var s sample
		var seen bool
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				s.ns, seen = v, true
			case "B/op":
				s.bytes = v
			case "allocs/op":
				s.allocs = v
			case "added-ns/op":
				s.added, s.hasAdded = v, true
			}
		}
		if !seen {
			continue
		}
		k := key{group, impl, cpu}
		if _, ok := out.impls[group]; !ok {
			out.order = append(out.order, group)
		}
		if !slices.Contains(out.impls[group], impl) {
			out.impls[group] = append(out.impls[group], impl)
		}
		if !slices.Contains(out.cpus, cpu) {
			out.cpus = append(out.cpus, cpu)
		}
		out.samples[k] = append(out.samples[k], s)
	}
	sort.Ints(out.cpus)
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out.samples) == 0 {
		return nil, errors.New("report: no benchmark results in the raw output")
	}
	return out, nil
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

// stat returns the medians for k, and false if k has no samples.
// fastestPeer returns the fastest peer implementation of group g at cpu.
func (r *run) fastestPeer(g string, cpu int) (stats, string, bool) {
	var best stats
	var name string
	found := false
	for _, impl := range r.impls[g] {
		if !suite.IsPeer(impl) {
			continue
		}
		if st, ok := r.stat(key{g, impl, cpu}); ok && (!found || st.ns < best.ns) {
			best, name, found = st, impl, true
		}
	}
	return best, name, found
}

func (r *run) stat(k key) (stats, bool) {
	ss := r.samples[k]
	if len(ss) == 0 {
		return stats{}, false
	}
	var ns, b, a, added []float64
	paired := true
	for _, s := range ss {
		ns = append(ns, s.ns)
		b = append(b, s.bytes)
		a = append(a, s.allocs)
		added = append(added, s.added)
		paired = paired && s.hasAdded
	}
	st := stats{n: len(ss), ns: median(ns), bytes: median(b), alloc: median(a), paired: paired}
	if paired {
		st.added = median(added)
	}
	if st.ns > 0 {
		st.spread = (slices.Max(ns) - slices.Min(ns)) / st.ns
	}
	return st, true
}

// loadResult mirrors cmd/loadlat's JSON.
type loadResult struct {
	Impl       string  `json:"impl"`
	Goroutines int     `json:"goroutines"`
	GOMAXPROCS int     `json:"gomaxprocs"`
	DurationS  float64 `json:"duration_s"`
	WorkNs     int64   `json:"work_ns"`
	Calls      uint64  `json:"calls"`
	Errors     uint64  `json:"errors"`
	PerSecond  float64 `json:"calls_per_s"`
	MeanNs     float64 `json:"mean_ns"`
	P50Ns      uint64  `json:"p50_ns"`
	P99Ns      uint64  `json:"p99_ns"`
	P999Ns     uint64  `json:"p999_ns"`
	MaxNs      uint64  `json:"max_ns"`
	FirstErr   string  `json:"first_error"`
}

// peerVersions reads the required version of each peer module from go.mod.
func peerVersions(gomod string) map[string]string {
	out := map[string]string{}
	data, err := os.ReadFile(gomod)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
		if len(f) >= 2 {
			out[f[0]] = f[1]
		}
	}
	return out
}

// verdict is one checked condition of a bar.
type verdict struct {
	where    string
	measured string
	ok       bool
}

func fmtNs(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func fmtNum(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func mark(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

func cpuLabel(cpu int) string { return "-cpu=" + strconv.Itoa(cpu) }

// checkBars evaluates every bar of suite.Bars on r and lr.
func checkBars(r *run, lr []loadResult) [][]verdict {
	var out [][]verdict
	for _, bar := range suite.Bars {
		var vs []verdict
		switch bar.Kind {
		case suite.Ratio:
			for _, g := range bar.Groups {
				for _, cpu := range r.cpus {
					ion, ok1 := r.stat(key{g, suite.Ion, cpu})
					peer, ok2 := r.stat(key{g, bar.Peer, cpu})
					where := fmt.Sprintf("%s %s", g, cpuLabel(cpu))
					if !ok1 || !ok2 {
						vs = append(vs, verdict{where, "not measured", false})
						continue
					}
					ratio := ion.ns / peer.ns
					ok := ratio <= bar.Max
					m := fmt.Sprintf("%.2f× (%s vs %s ns/op)", ratio, fmtNs(ion.ns), fmtNs(peer.ns))
					if bar.MaxAllocs >= 0 {
						ok = ok && ion.alloc <= bar.MaxAllocs
						m += fmt.Sprintf("; %s allocs/op", fmtNum(ion.alloc))
					}
					if bar.AllocsOf != "" {
						if ref, okr := r.stat(key{g, bar.AllocsOf, cpu}); okr {
							ok = ok && ion.alloc <= ref.alloc && ion.bytes <= ref.bytes
							m += fmt.Sprintf("; %s allocs, %s B/op vs %s's %s allocs, %s B",
								fmtNum(ion.alloc), fmtNum(ion.bytes), bar.AllocsOf, fmtNum(ref.alloc), fmtNum(ref.bytes))
						} else {
							ok = false
							m += "; " + bar.AllocsOf + " not measured"
						}
					}
					vs = append(vs, verdict{where, m, ok})
				}
			}
		case suite.AddedCost:
			for _, g := range bar.Groups {
				for _, cpu := range r.cpus {
					ion, ok1 := r.stat(key{g, suite.Ion, cpu})
					peer, ok2 := r.stat(key{g, bar.Peer, cpu})
					base, ok3 := r.stat(key{g, bar.Base, cpu})
					where := fmt.Sprintf("%s %s", g, cpuLabel(cpu))
					if !ok1 || !ok2 || !ok3 {
						vs = append(vs, verdict{where, "not measured", false})
						continue
					}
					// A paired group measured what each adds in the same
					// moments as the base; its baseline's added-ns/op (its
					// twin against itself) is the method's noise.
					if ion.paired && peer.paired {
						ratio := ion.added / peer.added
						ok := peer.added > 0 && ratio <= bar.Max
						m := fmt.Sprintf("%.2f× (paired: adds %s vs %s ns/op over %s ns/op", ratio, fmtNs(ion.added), fmtNs(peer.added), fmtNs(base.ns))
						if base.paired {
							m += fmt.Sprintf("; base against itself %s", fmtNs(base.added))
						}
						vs = append(vs, verdict{where, m + ")", ok})
						continue
					}
					ionAdds, peerAdds := ion.ns-base.ns, peer.ns-base.ns
					ratio := ionAdds / peerAdds
					ok := peerAdds > 0 && ratio <= bar.Max
					vs = append(vs, verdict{where, fmt.Sprintf("%.2f× (adds %s vs %s ns/op over %s ns/op)",
						ratio, fmtNs(ionAdds), fmtNs(peerAdds), fmtNs(base.ns)), ok})
				}
			}
		case suite.Contention:
			for _, g := range r.order {
				serial, isPar := strings.CutSuffix(g, suite.ParallelSuffix)
				if !isPar {
					continue
				}
				par, ok1 := r.stat(key{g, suite.Ion, 2})
				ser, ok2 := r.stat(key{serial, suite.Ion, 1})
				if !ok1 || !ok2 {
					continue
				}
				ratio := par.ns / ser.ns
				m := fmt.Sprintf("%.2f× (%s ns/op at -cpu=2 vs %s serial at -cpu=1)", ratio, fmtNs(par.ns), fmtNs(ser.ns))
				ok := ratio <= bar.Max
				// Or no slower than the fastest peer under the same
				// contention, when that is the larger bound.
				if peer, name, found := r.fastestPeer(g, 2); found {
					m += fmt.Sprintf("; %s %s ns/op", name, fmtNs(peer.ns))
					ok = ok || par.ns <= peer.ns
				}
				vs = append(vs, verdict{g, m, ok})
			}
			if len(vs) == 0 {
				vs = append(vs, verdict{"", "not measured (needs -cpu=1,2)", false})
			}
		case suite.Latency:
			found := false
			for _, l := range lr {
				if l.Impl != suite.Ion {
					continue
				}
				found = true
				p99 := float64(l.P99Ns) / 1e3
				ok := p99 <= bar.MaxP99Us && l.Errors == 0
				m := fmt.Sprintf("p99 %s (p50 %s, p99.9 %s), %d goroutines", time.Duration(l.P99Ns),
					time.Duration(l.P50Ns), time.Duration(l.P999Ns), l.Goroutines)
				if l.Errors > 0 {
					m += fmt.Sprintf("; %d of %d calls failed: %s", l.Errors, l.Calls, l.FirstErr)
				}
				vs = append(vs, verdict{"loadlat", m, ok})
			}
			if !found {
				vs = append(vs, verdict{"loadlat", "not measured", false})
			}
		}
		out = append(out, vs)
	}
	return out
}

func allOK(vs []verdict) bool {
	for _, v := range vs {
		if !v.ok {
			return false
		}
	}
	return len(vs) > 0
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func main() {
	raw := flag.String("raw", "results.txt", "raw go test -bench output")
	gomod := flag.String("gomod", "go.mod", "the bench module's go.mod, for peer versions")
	loadlat := flag.String("loadlat", "", "cmd/loadlat JSON output")
	benchstat := flag.String("benchstat", "", "benchstat output to append")
	findings := flag.String("findings", "", "markdown notes on missed bars to include")
	outPath := flag.String("out", "RESULTS.md", "where to write the report")
	flag.Parse()

	f, err := os.Open(*raw)
	if err != nil {
		fail(err)
	}
	r, err := parse(f)
	f.Close()
	if err != nil {
		fail(err)
	}
	var lr []loadResult
	if *loadlat != "" {
		data, err := os.ReadFile(*loadlat)
		if err != nil {
			fail(err)
		}
		if err := json.Unmarshal(data, &lr); err != nil {
			fail(fmt.Errorf("report: %s: %w", *loadlat, err))
		}
	}
	var w strings.Builder
	write(&w, r, lr, peerVersions(*gomod), readOpt(*findings), readOpt(*benchstat))
	if err := os.WriteFile(*outPath, []byte(w.String()), 0o644); err != nil {
		fail(err)
	}
}

func readOpt(path string) string {
	if path == "" {
		return ""
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// write renders the report.
func write(w *strings.Builder, r *run, lr []loadResult, versions map[string]string, findings, benchstat string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# Ion benchmark results\n\n")
	p("Generated by `bench/run.sh` (do not edit by hand: rerun it). Raw output: `bench/results.txt`; ")
	p("benchstat summary at the end. Every figure is the **median** of the run's samples; ")
	p("a ratio is Ion's median ns/op over the peer's (below 1 means Ion is faster).\n\n")

	p("## Machine and run\n\n")
	p("| | |\n|---|---|\n")
	m := r.meta
	if m["cpu"] == "" {
		m["cpu"] = cpuModel()
	}
	p("| date | %s |\n", m["date"])
	p("| go | %s |\n", m["go"])
	p("| CPU | %s |\n", m["cpu"])
	p("| nproc | %s |\n", m["nproc"])
	p("| goos/goarch | %s/%s |\n", m["goos"], m["goarch"])
	p("| flags | `-cpu=%s -count=%s -benchtime=%s` |\n", m["cpus"], m["count"], m["benchtime"])
	p("| load average (1 min) before / after | %s / %s |\n", m["load-before"], m["load-after"])
	p("\nThe load average before the run is other people's work on the machine (this run's own load comes after); ")
	p("on a shared VM single figures are noisy, so every figure is a median of %s samples, ", m["count"])
	p("the spread column of the last table and the benchstat intervals show how noisy.\n\n")
	p("Peers (versions from `bench/go.mod`):\n\n| name | module | version | what |\n|---|---|---|---|\n")
	for _, pe := range suite.Peers {
		p("| %s | %s | %s | %s |\n", pe.Name, pe.Module, versions[pe.Module], pe.What)
	}

	p("\n## Performance bars\n\n")
	bars := checkBars(r, lr)
	p("| bar | target | measured | holds |\n|---|---|---|---|\n")
	for i, bar := range suite.Bars {
		vs := bars[i]
		var parts []string
		for _, v := range vs {
			if bar.Kind == suite.Contention && v.ok {
				continue // listed in the contention table; show only misses here
			}
			s := v.measured
			if v.where != "" {
				s = v.where + ": " + s
			}
			if !v.ok || bar.Kind != suite.Contention {
				s += " " + mark(v.ok)
			}
			parts = append(parts, s)
		}
		if bar.Kind == suite.Contention {
			worst, wv := 0.0, ""
			for _, v := range vs {
				var x float64
				fmt.Sscanf(v.measured, "%f", &x)
				if x > worst {
					worst, wv = x, v.where
				}
			}
			parts = append([]string{fmt.Sprintf("worst %.2f× (%s) over %d paths", worst, wv, len(vs))}, parts...)
		}
		p("| %s | %s | %s | %s |\n", bar.What, bar.Text, strings.Join(parts, "<br>"), mark(allOK(vs)))
	}

	if findings != "" {
		p("\n## What the profiles of the missed bars show\n\n%s\n", findings)
	}

	p("\n## Ion against each peer\n\n")
	p("| benchmark | cpu | ion ns/op | peer | peer ns/op | ratio | ion B/op | peer B/op | ion allocs | peer allocs |\n")
	p("|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n")
	for _, g := range r.order {
		impls := r.impls[g]
		if !slices.Contains(impls, suite.Ion) {
			continue
		}
		for _, cpu := range r.cpus {
			ion, ok := r.stat(key{g, suite.Ion, cpu})
			if !ok {
				continue
			}
			for _, im := range impls {
				if im == suite.Ion {
					continue
				}
				pe, ok := r.stat(key{g, im, cpu})
				if !ok {
					continue
				}
				p("| %s | %d | %s | %s | %s | %.2f | %s | %s | %s | %s |\n", g, cpu, fmtNs(ion.ns), im, fmtNs(pe.ns),
					ion.ns/pe.ns, fmtNum(ion.bytes), fmtNum(pe.bytes), fmtNum(ion.alloc), fmtNum(pe.alloc))
			}
		}
	}

	p("\n## Contention: RunParallel at -cpu=2 against the serial figure at -cpu=1 (or the fastest peer's contended figure)\n\n")
	p("ns/op of a RunParallel benchmark is wall time per op with every P calling: with no contention at all it would ")
	p("be half the serial figure on 2 CPUs; the bar allows twice the serial figure.\n\n")
	p("| group | impl | serial ns/op (-cpu=1) | parallel ns/op (-cpu=2) | ratio |\n|---|---|---:|---:|---:|\n")
	for _, g := range r.order {
		serial, isPar := strings.CutSuffix(g, suite.ParallelSuffix)
		if !isPar {
			continue
		}
		for _, im := range r.impls[g] {
			par, ok1 := r.stat(key{g, im, 2})
			ser, ok2 := r.stat(key{serial, im, 1})
			if !ok1 || !ok2 {
				continue
			}
			name := im
			if im == suite.Ion {
				name = "**ion**"
			}
			p("| %s | %s | %s | %s | %.2f |\n", g, name, fmtNs(ser.ns), fmtNs(par.ns), par.ns/ser.ns)
		}
	}

	if len(lr) > 0 {
		p("\n## Latency under load (cmd/loadlat)\n\n")
		p("%d goroutines call a composed rate limiter + bulkhead + breaker pipeline (limiter never denying, ", lr[0].Goroutines)
		p("bulkhead as wide as the goroutines, breaker closed, a call that does %s of work) as fast as they can ", time.Duration(lr[0].WorkNs))
		p("for %.0f s each, GOMAXPROCS=%d; every call is timed (two clock reads included) into a log-bucket histogram ", lr[0].DurationS, lr[0].GOMAXPROCS)
		p("(1.6%% precision). Goroutines that never block are preempted every 10 ms and wait for the other 999, ")
		p("so the maximum is scheduler time, not pipeline time.\n\n")
		p("| impl | calls/s | mean | p50 | p99 | p99.9 | max | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
		for _, l := range lr {
			p("| %s | %.0f | %s | %s | %s | %s | %s | %d |\n", l.Impl, l.PerSecond, time.Duration(l.MeanNs).Round(time.Nanosecond),
				time.Duration(l.P50Ns), time.Duration(l.P99Ns), time.Duration(l.P999Ns), time.Duration(l.MaxNs), l.Errors)
		}
		for _, l := range lr {
			if l.Errors > 0 {
				p("\n%s: %d of %d calls failed; first error: `%s`.\n", l.Impl, l.Errors, l.Calls, l.FirstErr)
			}
		}
	}

	p("\n## Every benchmark\n\n")
	p("Medians; spread is (max − min) / median of ns/op over the samples.\n\n")
	p("| benchmark | cpu | n | ns/op | spread | B/op | allocs/op |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, g := range r.order {
		for _, im := range r.impls[g] {
			for _, cpu := range r.cpus {
				st, ok := r.stat(key{g, im, cpu})
				if !ok {
					continue
				}
				p("| %s/%s | %d | %d | %s | %.0f%% | %s | %s |\n", g, im, cpu, st.n, fmtNs(st.ns), st.spread*100,
					fmtNum(st.bytes), fmtNum(st.alloc))
			}
		}
	}
	if benchstat != "" {
		p("\n## benchstat\n\n<details><summary>benchstat results.txt</summary>\n\n```\n%s\n```\n\n</details>\n", benchstat)
	}
}
