package observe_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion/internal/workload"
	"github.com/ionkit/ion/observe"
)

// resolution is one instrument a package resolved: its kind, name and label
// keys and values.
type resolution struct {
	kind   observe.Kind
	name   string
	labels []observe.Label
}

// resolutions is a Metrics that remembers every resolution and records
// through a Recorder.
type resolutions struct {
	*observe.Recorder
	mu  sync.Mutex
	all []resolution
}

func (r *resolutions) add(k observe.Kind, name string, labels []observe.Label) {
	r.mu.Lock()
	r.all = append(r.all, resolution{k, name, slices.Clone(labels)})
	r.mu.Unlock()
}

func (r *resolutions) Counter(name string, labels ...observe.Label) observe.Counter {
	r.add(observe.KindCounter, name, labels)
	return r.Recorder.Counter(name, labels...)
}

func (r *resolutions) Gauge(name string, labels ...observe.Label) observe.Gauge {
	r.add(observe.KindGauge, name, labels)
	return r.Recorder.Gauge(name, labels...)
}

func (r *resolutions) Histogram(name string, labels ...observe.Label) observe.Histogram {
	r.add(observe.KindHistogram, name, labels)
	return r.Recorder.Histogram(name, labels...)
}

// recorded reports whether the series was given a value: a counter above
// 0, a histogram with an observation. A gauge counts as recorded once
// resolved, since 0 is a value it holds.
func (r *resolutions) recorded(res resolution) bool {
	switch res.kind {
	case observe.KindCounter:
		return r.Count(res.name, res.labels...) > 0
	case observe.KindHistogram:
		return len(r.Observations(res.name, res.labels...)) > 0
	}
	return true
}

func runWorkload(t *testing.T) *resolutions {
	t.Helper()
	rec := &resolutions{Recorder: observe.NewRecorder()}
	synctest.Test(t, func(t *testing.T) {
		require.NoError(t, workload.Run(t.Context(), rec, rec))
	})
	return rec
}

// TestCatalogMatchesPackages drives every package through the scripted
// workload and checks that what they resolve is what the catalog says:
// every metric is in the catalog, with its kind and a subset of its label
// keys that includes "name"; and every catalog entry is resolved and given a
// value by the workload. So the table that documents Ion's metrics cannot
// drift from the code.
func TestCatalogMatchesPackages(t *testing.T) {
	rec := runWorkload(t)
	require.NotEmpty(t, rec.all)

	valued := map[string]bool{}
	for _, res := range rec.all {
		keys := make([]string, len(res.labels))
		for i, l := range res.labels {
			keys[i] = l.Key
		}
		d, ok := observe.Lookup(res.name)
		if !assert.Truef(t, ok, "%s %s%v is recorded but not in the catalog", res.kind, res.name, keys) {
			continue
		}
		assert.Equalf(t, d.Kind, res.kind, "%s: kind", res.name)
		assert.Containsf(t, keys, "name", "%s: every Ion metric has a name label", res.name)
		for _, k := range keys {
			assert.Containsf(t, d.Labels, k, "%s: label %q is recorded but not in the catalog", res.name, k)
		}
		assert.Equalf(t, len(keys), len(slicesCompact(keys)), "%s: a label key is repeated: %v", res.name, keys)
		if rec.recorded(res) {
			valued[res.name] = true
		}
	}
	for _, d := range observe.Catalog() {
		if sideModule(d.Package) {
			continue // TestCatalogSideModules
		}
		assert.Truef(t, valued[d.Name], "%s is in the catalog but the workload never recorded it", d.Name)
	}
}

// sideModule reports whether pkg is one of Ion's side modules (ionredis),
// which the core module's workload cannot import.
func sideModule(pkg string) bool { return strings.HasPrefix(pkg, "ion") }

// prefix returns the metric name prefix of pkg: ion_<package>_, with the
// first element of a nested package ("limit" for "limit/httplimit") and the
// thing a side module adapts ("redis" for "ionredis").
func prefix(pkg string) string {
	first, _, _ := strings.Cut(pkg, "/")
	return "ion_" + strings.TrimPrefix(first, "ion") + "_"
}

// sourceMetrics returns the metric names quoted in the non-test Go files of
// dir: the names a package resolves.
func sourceMetrics(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	names := map[string]bool{}
	quoted := regexp.MustCompile(`"(ion_[a-z_]+)"`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range quoted.FindAllStringSubmatch(string(src), -1) {
			names[m[1]] = true
		}
	}
	return names
}

// TestCatalogSideModules checks the metrics of the side modules, which the
// workload cannot run (they need their server): every metric name their
// sources resolve is in the catalog under their package, and every catalog
// entry of theirs is resolved by their sources. Their tests check kinds and
// labels at run time.
func TestCatalogSideModules(t *testing.T) {
	byPkg := map[string]map[string]bool{}
	for _, d := range observe.Catalog() {
		if sideModule(d.Package) {
			if byPkg[d.Package] == nil {
				byPkg[d.Package] = map[string]bool{}
			}
			byPkg[d.Package][d.Name] = true
		}
	}
	for _, pkg := range []string{"ionredis"} {
		src := sourceMetrics(t, filepath.Join("..", pkg))
		for name := range src {
			d, ok := observe.Lookup(name)
			if assert.Truef(t, ok, "%s resolves %s, which is not in the catalog", pkg, name) {
				assert.Equalf(t, pkg, d.Package, "%s: package", name)
			}
		}
		for name := range byPkg[pkg] {
			assert.Truef(t, src[name], "%s is in the catalog under %s, whose sources never resolve it", name, pkg)
		}
	}
}

func slicesCompact(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// TestCatalogWellFormed checks the rules every entry follows: names sorted
// and unique, ion_<package>_ prefix, _total counters, _seconds histograms
// with increasing buckets, "name" as the first label, a help text.
func TestCatalogWellFormed(t *testing.T) {
	cat := observe.Catalog()
	require.NotEmpty(t, cat)
	assert.True(t, slices.IsSortedFunc(cat, func(a, b observe.Desc) int { return strings.Compare(a.Name, b.Name) }))
	for i, d := range cat {
		if i > 0 {
			assert.NotEqual(t, cat[i-1].Name, d.Name)
		}
		assert.Truef(t, strings.HasPrefix(d.Name, prefix(d.Package)), "%s: prefix %s", d.Name, prefix(d.Package))
		assert.Equalf(t, "name", d.Labels[0], "%s: first label", d.Name)
		assert.NotEmptyf(t, d.Help, "%s: help", d.Name)
		assert.Truef(t, strings.HasSuffix(d.Help, "."), "%s: help is a sentence", d.Name)
		assert.Equalf(t, d.Kind == observe.KindCounter, strings.HasSuffix(d.Name, "_total"), "%s: _total iff counter", d.Name)
		if d.Kind == observe.KindHistogram {
			assert.Truef(t, strings.HasSuffix(d.Name, "_seconds"), "%s: histograms are durations", d.Name)
			assert.NotEmptyf(t, d.Buckets, "%s: buckets", d.Name)
			assert.Truef(t, slices.IsSorted(d.Buckets) && len(slicesCompactF(d.Buckets)) == len(d.Buckets), "%s: buckets increase", d.Name)
		} else {
			assert.Nilf(t, d.Buckets, "%s: buckets on a %s", d.Name, d.Kind)
		}
		got, ok := observe.Lookup(d.Name)
		assert.True(t, ok)
		assert.Equal(t, d, got)
	}
	_, ok := observe.Lookup("ion_nope_total")
	assert.False(t, ok)
}

func slicesCompactF(s []float64) []float64 { return slices.Compact(slices.Clone(s)) }

// TestCatalogIsACopy checks that a caller cannot change the catalog through
// what Catalog or Lookup returned.
func TestCatalogIsACopy(t *testing.T) {
	cat := observe.Catalog()
	cat[0].Labels[0] = "changed"
	d, _ := observe.Lookup("ion_sem_wait_seconds")
	d.Buckets[0] = -1
	assert.Equal(t, "name", observe.Catalog()[0].Labels[0])
	d, _ = observe.Lookup("ion_sem_wait_seconds")
	assert.Positive(t, d.Buckets[0])
}

// tableLine renders d as the package doc's table does.
func tableLine(d observe.Desc) string {
	return fmt.Sprintf("%s{%s} %s: %s", d.Name, strings.Join(d.Labels, ","), d.Kind, d.Help)
}

// TestCatalogDocumented checks that observe's package doc lists every
// catalog entry exactly as the catalog says, and that the metric lists in
// the other packages' docs name only catalog metrics.
func TestCatalogDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	var table []string
	for line := range strings.Lines(string(doc)) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "//\t"); ok && strings.HasPrefix(s, "ion_") {
			table = append(table, strings.Join(strings.Fields(s), " "))
		}
	}
	var want []string
	for _, d := range observe.Catalog() {
		want = append(want, tableLine(d))
	}
	assert.Equal(t, want, table, "observe's package doc table differs from the catalog; regenerate it with tableLine")

	// A metric listing is a tab-indented block or a bulleted list.
	metric := regexp.MustCompile(`^//(?:\t|\s+-\s+|\s{3,})(ion_[a-z_]+)`)
	for _, pkg := range []string{"adaptive", "breaker", "cache", "chaos", "coalesce",
		"limit", "limit/httplimit", "policy", "pool", "schedule", "sem", "ionredis"} {
		files, err := filepath.Glob(filepath.Join("..", pkg, "*.go"))
		require.NoError(t, err)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			for line := range strings.Lines(string(src)) {
				if m := metric.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
					_, ok := observe.Lookup(m[1])
					assert.Truef(t, ok, "%s documents %s, which is not in the catalog", f, m[1])
				}
			}
		}
	}
}

// TestCatalogSpans checks that the workload's spans all ended, with one of
// the documented outcomes.
func TestCatalogSpans(t *testing.T) {
	rec := runWorkload(t)
	spans := rec.Spans()
	require.NotEmpty(t, spans)
	for _, s := range spans {
		assert.Truef(t, s.Ended, "span %s never ended", s.Name)
		assert.Containsf(t, []string{"success", "failure", "ignored", "rejected"}, s.Outcome, "span %s", s.Name)
	}
}

// TestCatalogCoversSources reads every Go source of the repository (the
// core module and the side modules, tests excluded) for instruments
// resolved with a literal name (m.Counter("ion_..."), or a package's own
// counter/gauge/histogram helper) and checks that each is in the catalog
// with that kind, and that every catalog entry is resolved somewhere. It
// catches a package the workload does not drive yet.
func TestCatalogCoversSources(t *testing.T) {
	call := regexp.MustCompile(`(?i)\.(counter|gauge|histogram)\(\s*"(ion_[a-z0-9_]+)"`)
	kinds := map[string]observe.Kind{"counter": observe.KindCounter, "gauge": observe.KindGauge, "histogram": observe.KindHistogram}
	resolved := map[string]bool{}
	err := filepath.WalkDir("..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			switch e.Name() {
			case "testdata", "bench", "observe", "ionprom", "ionotel", ".git":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range call.FindAllStringSubmatch(string(src), -1) {
			kind, name := kinds[strings.ToLower(m[1])], m[2]
			resolved[name] = true
			d, ok := observe.Lookup(name)
			if assert.Truef(t, ok, "%s resolves %s %s, which is not in the catalog", path, kind, name) {
				assert.Equalf(t, d.Kind, kind, "%s resolves %s as a %s", path, name, kind)
			}
		}
		return nil
	})
	require.NoError(t, err)
	for _, d := range observe.Catalog() {
		assert.Truef(t, resolved[d.Name], "%s is in the catalog but no source resolves it", d.Name)
	}
}
