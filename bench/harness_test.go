package bench_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ionkit/ion/bench/internal/suite"
)

// impl is one implementation of a benchmark group: Ion's, a peer's twin or
// a baseline (see package suite for the names).
type impl struct {
	name string
	fn   func(b *testing.B)
}

// group is a registered benchmark group; BenchmarkG runs it.
type group struct {
	name  string
	impls []impl
}

// groups holds every registered group, by name.
var groups = map[string]*group{}

// register records a group at package initialisation, so that the pairing
// check sees every group without running any benchmark.
func register(name string, impls ...impl) *group {
	if _, dup := groups[name]; dup {
		panic("bench: group registered twice: " + name)
	}
	g := &group{name: name, impls: impls}
	groups[name] = g
	return g
}

// run runs each implementation of g as a sub-benchmark, each reporting its
// allocations. It fails when called from a Benchmark function of another
// name, so a group cannot be run under the wrong label.
func (g *group) run(b *testing.B) {
	if b.Name() != "Benchmark"+g.name {
		b.Fatalf("group %s run from %s", g.name, b.Name())
	}
	for _, im := range g.impls {
		b.Run(im.name, func(b *testing.B) {
			b.ReportAllocs()
			im.fn(b)
		})
	}
}

// Shared fixtures: the call every pipeline runs (success, no work) in its
// Ion shape and its failsafe-go shape, and the caller's ctx.
var (
	bg      = context.Background()
	ionCall = func(context.Context) (int, error) { return 1, nil }
	fsCall  = func() (int, error) { return 1, nil }
	errBoom = errors.New("bench: boom")
)

// Rates and capacities shared by every twin: the limiters never deny
// (1e9 tokens per second, a burst of 1e9), the bulkheads are never full.
const (
	rateNever  = 1e9
	burstNever = 1_000_000_000
	capacity   = 100
)

// checkPairs verifies the registry against the package's source: every
// BenchmarkG function has a registered group G and every group has one;
// every implementation name is ion, a known peer or a baseline; a group with
// ion has at least one peer twin, a group without ion has only baselines;
// a GParallel group has its serial group G, and each peer of one is a peer
// of the other.
func checkPairs() error {
	funcs, err := benchmarkFuncs(".")
	if err != nil {
		return err
	}
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, f := range funcs {
		if groups[strings.TrimPrefix(f, "Benchmark")] == nil {
			bad("%s has no registered group", f)
		}
	}
	names := make([]string, 0, len(groups))
	for n := range groups {
		names = append(names, n)
		if !slices.Contains(funcs, "Benchmark"+n) {
			bad("group %s has no Benchmark%s", n, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		g := groups[n]
		var hasIon bool
		var peers, seen []string
		for _, im := range g.impls {
			switch {
			case slices.Contains(seen, im.name):
				bad("%s/%s registered twice", n, im.name)
			case im.name == suite.Ion:
				hasIon = true
			case suite.IsPeer(im.name):
				peers = append(peers, im.name)
			case suite.IsBaseline(im.name):
			default:
				bad("%s/%s: not ion, a known peer or baseline-*", n, im.name)
			}
			seen = append(seen, im.name)
		}
		if hasIon && len(peers) == 0 {
			bad("%s: ion has no peer twin", n)
		}
		if !hasIon && len(peers) > 0 {
			bad("%s: peers %v without an ion implementation", n, peers)
		}
		if serial, ok := strings.CutSuffix(n, suite.ParallelSuffix); ok && serial != "" {
			sg := groups[serial]
			if sg == nil {
				bad("%s has no serial group %s", n, serial)
				continue
			}
			if a, b := implNames(sg, true), implNames(g, true); !slices.Equal(a, b) {
				bad("%s has implementations %v but %s has %v", n, b, serial, a)
			}
		}
	}
	for _, bar := range suite.Bars {
		for _, gn := range bar.Groups {
			g := groups[gn]
			if g == nil {
				bad("bar %q: no group %s", bar.What, gn)
				continue
			}
			if !slices.Contains(implNames(g, false), suite.Ion) || !slices.Contains(implNames(g, false), bar.Peer) {
				bad("bar %q: group %s lacks ion or %s", bar.What, gn, bar.Peer)
			}
			if bar.AllocsOf != "" && !slices.Contains(implNames(g, false), bar.AllocsOf) {
				bad("bar %q: group %s lacks %s", bar.What, gn, bar.AllocsOf)
			}
		}
	}
	if len(problems) > 0 {
		return errors.New("bench: incomplete pairs:\n  " + strings.Join(problems, "\n  "))
	}
	return nil
}

// implNames lists g's implementation names, without baselines if noBase.
func implNames(g *group, noBase bool) []string {
	var out []string
	for _, im := range g.impls {
		if noBase && suite.IsBaseline(im.name) {
			continue
		}
		out = append(out, im.name)
	}
	sort.Strings(out)
	return out
}

// benchmarkFuncs lists the Benchmark functions declared in dir's test files.
func benchmarkFuncs(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return nil, err
	}
	var out []string
	fset := token.NewFileSet()
	for _, f := range files {
		af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		for _, d := range af.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && strings.HasPrefix(fd.Name.Name, "Benchmark") {
				out = append(out, fd.Name.Name)
			}
		}
	}
	return out, nil
}

// TestPairsComplete checks that every Ion benchmark has its peer twin
// registered (see checkPairs), so that no pair rots unnoticed.
func TestPairsComplete(t *testing.T) {
	if err := checkPairs(); err != nil {
		t.Fatal(err)
	}
}

// TestMain runs the pairing check before anything else, so that it also
// guards a benchmark-only run (-run='^$' -bench=.), as CI's is.
func TestMain(m *testing.M) {
	if err := checkPairs(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}
