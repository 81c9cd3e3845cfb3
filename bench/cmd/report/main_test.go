package main

import (
	"strings"
	"testing"

	"github.com/ionkit/ion/bench/internal/suite"
)

const sampleRaw = `date: 2026-01-01 00:00 UTC
count: 3
cpus: 1,2
goos: linux
goarch: amd64
cpu: Test CPU
BenchmarkAllow/ion         	1000	        30.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/ion         	1000	        50.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/ion         	1000	        40.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/ion-2       	1000	        40.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/xrate       	1000	       100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllow/xrate-2     	1000	       100.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkAllowParallel/ion-2   	1000	       90.0 ns/op	       0 B/op	       0 allocs/op
BenchmarkComposedTimeout/ion	1000	       500 ns/op	     272 B/op	       4 allocs/op
BenchmarkComposedTimeout/failsafe	1000	       1500 ns/op	     1280 B/op	       30 allocs/op
BenchmarkComposedTimeout/baseline-withtimeoutcause	1000	       400 ns/op	     272 B/op	       4 allocs/op
BenchmarkComposedTimeout/ion-2	1000	       500 ns/op	     272 B/op	       4 allocs/op
BenchmarkComposedTimeout/failsafe-2	1000	       1500 ns/op	     1280 B/op	       30 allocs/op
BenchmarkComposedTimeout/baseline-withtimeoutcause-2	1000	       400 ns/op	     272 B/op	       4 allocs/op
BenchmarkHTTPClient/baseline-direct	1000	       400 ns/op	     240 B/op	       4 allocs/op
BenchmarkHTTPClient/ion	1000	       800 ns/op	     944 B/op	       5 allocs/op
BenchmarkHTTPClient/failsafe	1000	       2000 ns/op	     2000 B/op	       30 allocs/op
BenchmarkHTTPClientLoopback/baseline-direct	1000	       16000 ns/op	        20.0 added-ns/op	    4800 B/op	      58 allocs/op
BenchmarkHTTPClientLoopback/ion	1000	       20000 ns/op	       800.0 added-ns/op	    5900 B/op	      64 allocs/op
BenchmarkHTTPClientLoopback/ion	1000	       16000 ns/op	       900.0 added-ns/op	    5900 B/op	      64 allocs/op
BenchmarkHTTPClientLoopback/ion	1000	       16000 ns/op	       700.0 added-ns/op	    5900 B/op	      64 allocs/op
BenchmarkHTTPClientLoopback/failsafe	1000	       17000 ns/op	      1700.0 added-ns/op	    6800 B/op	      93 allocs/op
PASS
ok  	github.com/ionkit/ion/bench	1.0s
`

// TestParseMedians checks the parsing of go test output: names split into
// group, implementation and -cpu, medians, and the configuration lines.
func TestParseMedians(t *testing.T) {
	r, err := parse(strings.NewReader(sampleRaw))
	if err != nil {
		t.Fatal(err)
	}
	st, ok := r.stat(key{"Allow", "ion", 1})
	if !ok || st.n != 3 || st.ns != 40 || st.spread != 0.5 {
		t.Errorf("Allow/ion at -cpu=1: %+v, want 3 samples, median 40, spread 0.5", st)
	}
	if st, _ := r.stat(key{"ComposedTimeout", "baseline-withtimeoutcause", 1}); st.alloc != 4 || st.bytes != 272 {
		t.Errorf("a name holding a dash was misparsed: %+v", st)
	}
	if got := r.impls["Allow"]; len(got) != 2 || got[0] != "ion" || got[1] != "xrate" {
		t.Errorf("Allow implementations %v", got)
	}
	if len(r.cpus) != 2 || r.meta["count"] != "3" || r.meta["cpu"] != "Test CPU" {
		t.Errorf("cpus %v, meta %v", r.cpus, r.meta)
	}
	if st, _ := r.stat(key{"HTTPClientLoopback", "ion", 1}); !st.paired || st.added != 800 || st.ns != 16000 {
		t.Errorf("HTTPClientLoopback/ion: %+v, want paired, median added 800, median 16000 ns/op", st)
	}
	if st, _ := r.stat(key{"HTTPClient", "ion", 1}); st.paired {
		t.Errorf("HTTPClient/ion has no added-ns/op but parsed as paired: %+v", st)
	}
	if _, err := parse(strings.NewReader("PASS\n")); err == nil {
		t.Error("output with no results parsed without error")
	}
}

// TestBarsVerdicts checks the bar arithmetic on the sample: the Allow bar
// holds (0.4×), the contention bar fails (90 vs 40 serial is 2.25×), the
// Timeout bar holds on time and on allocations, the unmeasured bars fail.
func TestBarsVerdicts(t *testing.T) {
	r, err := parse(strings.NewReader(sampleRaw))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for i, vs := range checkBars(r, []loadResult{{Impl: "ion", P99Ns: 1_500}}) {
		got[suite.Bars[i].What] = allOK(vs)
	}
	want := map[string]bool{
		"token bucket Allow":                    true,
		"contention (RunParallel, -cpu=2)":      false,
		"limit + sem + breaker + Timeout":       true,
		"breaker closed-state success":          false,
		"latency under load (1,000 goroutines)": true,
	}
	for what, ok := range want {
		if got[what] != ok {
			t.Errorf("bar %q holds = %v, want %v", what, got[what], ok)
		}
	}
	// The paired loopback group: the ratio of the median added-ns/op, not
	// of the ns/op differences (which would give 0).
	for i, vs := range checkBars(r, nil) {
		if suite.Bars[i].Kind != suite.AddedCost {
			continue
		}
		found := false
		for _, v := range vs {
			if v.where == "HTTPClientLoopback -cpu=1" {
				found = true
				if !v.ok || !strings.Contains(v.measured, "0.47× (paired: adds 800 vs 1700 ns/op") || !strings.Contains(v.measured, "base against itself 20.0") {
					t.Errorf("paired verdict %+v", v)
				}
			}
			if v.where == "HTTPClient -cpu=1" && (!v.ok || !strings.HasPrefix(v.measured, "0.25× (adds 400 vs 1600")) {
				t.Errorf("in-memory verdict %+v", v)
			}
		}
		if !found {
			t.Error("no verdict for HTTPClientLoopback -cpu=1")
		}
	}
	for i, vs := range checkBars(r, []loadResult{{Impl: "ion", P99Ns: 2_500}}) {
		if suite.Bars[i].Kind == suite.Latency && allOK(vs) {
			t.Errorf("a p99 of 2.5 µs holds the latency bar of %v µs", suite.Bars[i].MaxP99Us)
		}
	}
	var w strings.Builder
	write(&w, r, nil, map[string]string{"golang.org/x/time": "v0.16.0"}, "notes", "stat")
	for _, s := range []string{"| Allow | 1 | 40.0 | xrate | 100 | 0.40 |", "v0.16.0", "notes", "Test CPU"} {
		if !strings.Contains(w.String(), s) {
			t.Errorf("report lacks %q", s)
		}
	}
}
