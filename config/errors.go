package config

import (
	"errors"

	"github.com/ionkit/ion"
)

// problems collects the validation errors of a configuration, each a
// [*ion.ConfigError] whose Param is the field path from the root of the
// value being validated.
type problems struct {
	errs []error
}

// addf records that the field at path is invalid for the reason formatted
// from format and args.
func (p *problems) addf(path, format string, args ...any) {
	p.errs = append(p.errs, ion.NewConfigError("config", path, format, args...))
}

// merge records the errors of a nested Validate under prefix. err is what
// Validate returned: nil, or a join of *ion.ConfigError.
func (p *problems) merge(prefix string, err error) {
	if err == nil {
		return
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	for _, e := range list {
		if ce, ok := e.(*ion.ConfigError); ok && ce.Pkg == "config" {
			p.errs = append(p.errs, &ion.ConfigError{Pkg: "config", Param: join(prefix, ce.Param), Reason: ce.Reason})
			continue
		}
		// A primitive's own error (from its Err method), under the path.
		p.addf(prefix, "%v", e)
	}
}

// own records err, a primitive's own configuration error (from its Err
// method), under path. Validate builds each primitive its rules accepted and
// asks it, so that a document is never accepted that a primitive would
// refuse, whatever rule a primitive adds later.
func (p *problems) own(path string, err error) {
	if err != nil {
		p.addf(path, "%v", err)
	}
}

// err returns every recorded error joined, or nil.
func (p *problems) err() error { return errors.Join(p.errs...) }

// join joins two field paths with a dot.
func join(prefix, path string) string {
	switch {
	case prefix == "":
		return path
	case path == "":
		return prefix
	}
	return prefix + "." + path
}
