package ionprom_test

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ionkit/ion/observe"
)

// dashboard is the part of a Grafana dashboard the test reads.
type dashboard struct {
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	metricRe   = regexp.MustCompile(`\bion_[a-z_]+`)
	selectorRe = regexp.MustCompile(`(ion_[a-z_]+)\{([^}]*)\}`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"`)
	groupingRe = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	labelValRe = regexp.MustCompile(`label_values\(\s*(ion_[a-z_]+)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)`)
)

// catalogMetric maps a series name the dashboard queries to its catalog
// entry: a histogram is queried through its _bucket, _sum and _count
// series, which carry the extra label le (for _bucket).
func catalogMetric(series string) (observe.Desc, []string, bool) {
	if d, ok := observe.Lookup(series); ok {
		return d, d.Labels, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(series, suffix)
		if !ok {
			continue
		}
		if d, ok := observe.Lookup(base); ok && d.Kind == observe.KindHistogram {
			labels := d.Labels
			if suffix == "_bucket" {
				labels = append(slices.Clone(labels), "le")
			}
			return d, labels, true
		}
	}
	return observe.Desc{}, nil, false
}

// TestDashboardQueriesExist checks that every metric and label the Grafana
// dashboard queries (in panels and in template variables) is one Ion
// records, that a literal label value it matches is one the workload
// produced (testdata/workload.prom), and that it covers breakers, limiters,
// bulkheads, pools, retries and hedges.
func TestDashboardQueriesExist(t *testing.T) {
	raw, err := os.ReadFile("dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("dashboard.json: %v", err)
	}
	exposition, err := os.ReadFile("testdata/workload.prom")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]bool{}
	queried := map[string]bool{}

	check := func(where, expr string) {
		var labels []string // every label of every metric of expr
		for _, series := range metricRe.FindAllString(expr, -1) {
			desc, ls, ok := catalogMetric(series)
			if !ok {
				t.Errorf("%s: %s is not a metric Ion records", where, series)
				continue
			}
			queried[desc.Name] = true
			labels = append(labels, ls...)
		}
		for _, sel := range selectorRe.FindAllStringSubmatch(expr, -1) {
			_, ls, _ := catalogMetric(sel[1])
			for _, m := range matcherRe.FindAllStringSubmatch(sel[2], -1) {
				key, op, value := m[1], m[2], m[3]
				if !slices.Contains(ls, key) {
					t.Errorf("%s: %s has no label %q (it has %v)", where, sel[1], key, ls)
				}
				if op == "=" && !strings.Contains(string(exposition), key+`="`+value+`"`) {
					t.Errorf("%s: %s{%s=%q}: no series of the workload has that value", where, sel[1], key, value)
				}
				if strings.HasPrefix(value, "$") && !vars[strings.TrimPrefix(value, "$")] {
					t.Errorf("%s: %s uses the undefined variable %s", where, sel[1], value)
				}
			}
		}
		for _, g := range groupingRe.FindAllStringSubmatch(expr, -1) {
			for key := range strings.SplitSeq(g[1], ",") {
				if key = strings.TrimSpace(key); !slices.Contains(labels, key) {
					t.Errorf("%s: groups by %q, which none of its metrics has (%v)", where, key, labels)
				}
			}
		}
	}

	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Errorf("variable %s: query: %v", v.Name, err)
			continue
		}
		m := labelValRe.FindStringSubmatch(q.Query)
		if m == nil {
			t.Errorf("variable %s: want label_values(<metric>, <label>), got %q", v.Name, q.Query)
			continue
		}
		check("variable "+v.Name, q.Query)
		if _, ls, ok := catalogMetric(m[1]); ok && !slices.Contains(ls, m[2]) {
			t.Errorf("variable %s: %s has no label %q", v.Name, m[1], m[2])
		}
	}
	exprs := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs++
			check("panel "+p.Title, tg.Expr)
		}
	}
	if exprs == 0 {
		t.Fatal("the dashboard has no queries")
	}
	for _, name := range []string{
		"ion_breaker_state", "ion_breaker_transitions_total", "ion_breaker_calls_total",
		"ion_limit_requests_total",
		"ion_sem_in_use", "ion_sem_waiting", "ion_sem_wait_seconds",
		"ion_pool_running", "ion_pool_queued", "ion_pool_queue_wait_seconds",
		"ion_policy_retries_total", "ion_policy_hedges_total",
	} {
		if !queried[name] {
			t.Errorf("the dashboard does not show %s", name)
		}
	}
}
