package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Document is a whole configuration: named primitives, shared by every
// pipeline that names them, and named pipelines. The zero Document is
// valid and empty.
//
// Names are unique per kind (a breaker and a limiter may share a name) and
// are the primitives' identity across reloads (see [Registry.Apply]).
type Document struct {
	Breakers  map[string]BreakerConfig  `json:"breakers,omitempty" yaml:"breakers,omitempty"`
	Limiters  map[string]LimiterConfig  `json:"limiters,omitempty" yaml:"limiters,omitempty"`
	Bulkheads map[string]BulkheadConfig `json:"bulkheads,omitempty" yaml:"bulkheads,omitempty"`
	Pools     map[string]PoolConfig     `json:"pools,omitempty" yaml:"pools,omitempty"`
	Adaptive  map[string]AdaptiveConfig `json:"adaptive,omitempty" yaml:"adaptive,omitempty"`
	// Throttlers are client-side throttlers.
	Throttlers map[string]ThrottlerConfig `json:"throttlers,omitempty" yaml:"throttlers,omitempty"`
	Budgets    map[string]BudgetConfig    `json:"budgets,omitempty" yaml:"budgets,omitempty"`
	Pipelines  map[string]PipelineConfig  `json:"pipelines,omitempty" yaml:"pipelines,omitempty"`
}

// Layer names, in the default order of a pipeline, outermost first: the
// order ion's package doc recommends, with the hedge inside the retry, the
// pool outside the timeout (the timeout bounds the run, not the queue) and
// chaos innermost, where a real fault would come from.
var defaultOrder = []string{"fallback", "retry", "hedge", "breaker", "throttler", "adaptive", "limiter", "bulkhead", "pool", "timeout", "chaos"}

// PipelineConfig configures a pipeline: at most one layer of each kind,
// composed outermost first in the default order
//
//	fallback → retry → hedge → breaker → throttler → adaptive → limiter → bulkhead → pool → timeout → chaos → fn
//
// or in Order. Breakers, throttlers, limiters, bulkheads, pools and adaptive limiters
// are named primitives of the document, shared with every other pipeline
// that names them; retries, hedges, timeouts, fallbacks and chaos are the
// pipeline's own. A pipeline with no layer is a pass-through.
type PipelineConfig struct {
	// Order lists the configured layers, outermost first, to override the
	// default order; it must name each configured layer once and no other.
	Order []string `json:"order,omitempty" yaml:"order,omitempty"`
	// Classifier names a classifier the program binds for the pipeline's
	// type with [Classifier] (policy.Pipeline.WithClassifier). Default: a
	// nil error is a success.
	Classifier string `json:"classifier,omitempty" yaml:"classifier,omitempty"`

	Fallback *FallbackConfig `json:"fallback,omitempty" yaml:"fallback,omitempty"`
	Retry    *RetryConfig    `json:"retry,omitempty" yaml:"retry,omitempty"`
	Hedge    *HedgeConfig    `json:"hedge,omitempty" yaml:"hedge,omitempty"`
	// Breaker names a breaker of the document.
	Breaker string `json:"breaker,omitempty" yaml:"breaker,omitempty"`
	// Throttler names a client-side throttler of the document.
	Throttler string `json:"throttler,omitempty" yaml:"throttler,omitempty"`
	// Adaptive names an adaptive limiter of the document.
	Adaptive string       `json:"adaptive,omitempty" yaml:"adaptive,omitempty"`
	Limiter  *LimiterUse  `json:"limiter,omitempty" yaml:"limiter,omitempty"`
	Bulkhead *BulkheadUse `json:"bulkhead,omitempty" yaml:"bulkhead,omitempty"`
	// Pool names a pool of the document.
	Pool    string         `json:"pool,omitempty" yaml:"pool,omitempty"`
	Timeout *TimeoutConfig `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	Chaos   *ChaosConfig   `json:"chaos,omitempty" yaml:"chaos,omitempty"`
}

// configured reports whether the layer named kind is set in c.
func (c PipelineConfig) configured(kind string) bool {
	switch kind {
	case "fallback":
		return c.Fallback != nil
	case "retry":
		return c.Retry != nil
	case "hedge":
		return c.Hedge != nil
	case "breaker":
		return c.Breaker != ""
	case "throttler":
		return c.Throttler != ""
	case "adaptive":
		return c.Adaptive != ""
	case "limiter":
		return c.Limiter != nil
	case "bulkhead":
		return c.Bulkhead != nil
	case "pool":
		return c.Pool != ""
	case "timeout":
		return c.Timeout != nil
	case "chaos":
		return c.Chaos != nil
	}
	return false
}

// order returns the configured layers, outermost first. c must be valid.
func (c PipelineConfig) order() []string {
	if len(c.Order) > 0 {
		return c.Order
	}
	var kinds []string
	for _, k := range defaultOrder {
		if c.configured(k) {
			kinds = append(kinds, k)
		}
	}
	return kinds
}

// Validate reports every invalid field of the pipeline's own layers and its
// order. The names it uses are checked against the document by
// [Document.Validate], and the bindings by [Pipeline].
func (c PipelineConfig) Validate() error {
	var p problems
	if len(c.Order) > 0 {
		seen := map[string]bool{}
		for i, k := range c.Order {
			path := fmt.Sprintf("order[%d]", i)
			switch {
			case !slices.Contains(defaultOrder, k):
				p.addf(path, "must be one of %s, got %q", strings.Join(defaultOrder, ", "), k)
			case seen[k]:
				p.addf(path, "%s is listed twice", k)
			case !c.configured(k):
				p.addf(path, "%s is not configured in this pipeline", k)
			}
			seen[k] = true
		}
		for _, k := range defaultOrder {
			if c.configured(k) && !seen[k] {
				p.addf("order", "must list every configured layer: %s is missing", k)
			}
		}
	}
	if c.Fallback != nil {
		p.merge("fallback", c.Fallback.Validate())
	}
	if c.Retry != nil {
		p.merge("retry", c.Retry.Validate())
	}
	if c.Hedge != nil {
		p.merge("hedge", c.Hedge.Validate())
	}
	if c.Limiter != nil {
		p.merge("limiter", c.Limiter.Validate())
	}
	if c.Bulkhead != nil {
		p.merge("bulkhead", c.Bulkhead.Validate())
	}
	if c.Timeout != nil {
		p.merge("timeout", c.Timeout.Validate())
	}
	if c.Chaos != nil {
		p.merge("chaos", c.Chaos.Validate())
	}
	return p.err()
}

// Validate reports every invalid field of the document, each as an error
// matching ion.ErrInvalidConfig whose parameter is the field's path from
// the document's root, such as
//
//	config: invalid configuration: pipelines.payments.retry.backoff.max: must be ≥ initial (1s), got 500ms
//
// joined with errors.Join in the order of the document's kinds and names;
// nil when the document is valid. Beyond each part's own Validate, it checks
// that every name a pipeline or an "all" limiter uses exists, with the right
// kind, and that a bulkhead's weight fits its capacity.
func (d Document) Validate() error {
	var p problems
	for _, name := range sortedKeys(d.Breakers) {
		p.merge(path("breakers", name), d.Breakers[name].Validate())
	}
	for _, name := range sortedKeys(d.Limiters) {
		c := d.Limiters[name]
		at := path("limiters", name)
		p.merge(at, c.Validate())
		for i, m := range c.Members {
			member, ok := d.Limiters[m]
			switch {
			case !ok:
				p.addf(fmt.Sprintf("%s.members[%d]", at, i), "no limiter named %q", m)
			case member.kind() == kindAll:
				p.addf(fmt.Sprintf("%s.members[%d]", at, i), "%q is itself an all limiter: name its members", m)
			case slices.Index(c.Members, m) < i:
				p.addf(fmt.Sprintf("%s.members[%d]", at, i), "%q is listed twice", m)
			}
		}
	}
	for _, name := range sortedKeys(d.Bulkheads) {
		p.merge(path("bulkheads", name), d.Bulkheads[name].Validate())
	}
	for _, name := range sortedKeys(d.Pools) {
		p.merge(path("pools", name), d.Pools[name].Validate())
	}
	for _, name := range sortedKeys(d.Adaptive) {
		p.merge(path("adaptive", name), d.Adaptive[name].Validate())
	}
	for _, name := range sortedKeys(d.Throttlers) {
		p.merge(path("throttlers", name), d.Throttlers[name].Validate())
	}
	for _, name := range sortedKeys(d.Budgets) {
		p.merge(path("budgets", name), d.Budgets[name].Validate())
	}
	for _, name := range sortedKeys(d.Pipelines) {
		c := d.Pipelines[name]
		at := path("pipelines", name)
		p.merge(at, c.Validate())
		ref := func(field, kind, ref string, ok bool) {
			if ref != "" && !ok {
				p.addf(join(at, field), "no %s named %q", kind, ref)
			}
		}
		_, ok := d.Breakers[c.Breaker]
		ref("breaker", "breaker", c.Breaker, ok)
		_, ok = d.Throttlers[c.Throttler]
		ref("throttler", "throttler", c.Throttler, ok)
		_, ok = d.Adaptive[c.Adaptive]
		ref("adaptive", "adaptive limiter", c.Adaptive, ok)
		_, ok = d.Pools[c.Pool]
		ref("pool", "pool", c.Pool, ok)
		if c.Limiter != nil {
			_, ok = d.Limiters[c.Limiter.Use]
			ref("limiter.use", "limiter", c.Limiter.Use, ok)
		}
		if c.Bulkhead != nil {
			b, ok := d.Bulkheads[c.Bulkhead.Use]
			ref("bulkhead.use", "bulkhead", c.Bulkhead.Use, ok)
			if ok && b.Capacity >= 1 && c.Bulkhead.weight() > b.Capacity {
				p.addf(join(at, "bulkhead.weight"), "must be ≤ the capacity of bulkhead %q (%d), got %d", c.Bulkhead.Use, b.Capacity, c.Bulkhead.Weight)
			}
		}
		if c.Retry != nil {
			_, ok = d.Budgets[c.Retry.Budget]
			ref("retry.budget", "budget", c.Retry.Budget, ok)
		}
		if c.Hedge != nil {
			_, ok = d.Budgets[c.Hedge.Budget]
			ref("hedge.budget", "budget", c.Hedge.Budget, ok)
		}
	}
	return p.err()
}

// path returns the path of a named entry of a document's map. A name that
// is empty or holds a dot or a bracket would make paths ambiguous, so it is
// quoted.
func path(kind, name string) string {
	if name == "" || strings.ContainsAny(name, ".[] \"") {
		return fmt.Sprintf("%s[%q]", kind, name)
	}
	return kind + "." + name
}

// sortedKeys returns m's keys in order, so that errors and snapshots are
// deterministic.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Decode reads one JSON document from r, rejecting unknown fields and
// trailing data, and validates it. As with encoding/json, keys match field
// names without regard to case. It returns the document and nil, or the
// zero Document and an error: a syntax or type error from encoding/json
// (wrapped, it matches ion.ErrInvalidConfig too), or every validation error
// of [Document.Validate].
//
// To read YAML, decode into a Document with a YAML library that honours
// encoding.TextUnmarshaler (such as go.yaml.in/yaml/v3, with KnownFields)
// and call [Document.Validate]; [Registry.Apply] validates too.
func Decode(r io.Reader) (Document, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var d Document
	if err := dec.Decode(&d); err != nil {
		return Document{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Document{}, decodeError(errors.New("data after the document"))
	}
	if err := d.Validate(); err != nil {
		return Document{}, err
	}
	return d, nil
}

// clone returns a deep copy of d, so that the registry's document shares no
// map, slice or pointer with its caller's. A document that passed Validate
// has only finite numbers and always round-trips through JSON exactly.
func (d Document) clone() (Document, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return Document{}, decodeError(err)
	}
	var c Document
	if err := json.Unmarshal(b, &c); err != nil {
		return Document{}, decodeError(err)
	}
	return c, nil
}

// decodeError wraps a decoding error so that it matches
// ion.ErrInvalidConfig.
func decodeError(err error) error {
	var problems problems
	problems.addf("document", "%v", err)
	return problems.err()
}
