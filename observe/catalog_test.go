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
		assert.Truef(t, valued[d.Name], "%s is in the catalog but the workload never recorded it", d.Name)
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
		assert.Truef(t, strings.HasPrefix(d.Name, "ion_"+d.Package+"_"), "%s: prefix", d.Name)
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

	metric := regexp.MustCompile(`^//\s+(ion_[a-z_]+)`)
	for _, pkg := range []string{"breaker", "limit", "policy", "pool", "sem"} {
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
