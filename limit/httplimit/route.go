package httplimit

import (
	"strings"

	"github.com/ionkit/ion/limit"
)

// route is a parsed route pattern of a MultiTier.
type route struct {
	method   string // upper case; "" matches any method
	segs     []segment
	key      string // the canonical pattern: "GET /api/v1/users/{id}"
	rate     limit.Rate
	burst    int
	literals int // literal segments: the more, the more specific
	majors   bool
}

// segment is one segment of a route pattern.
type segment struct {
	lit   string // the literal, when not a parameter
	name  string // the parameter's name, when a parameter
	param bool
	major bool // the parameter's value is part of the route key
}

// parseRoute parses "[METHOD ]/path/{param}/...". Empty segments (a double
// or trailing slash) are ignored, as in request paths.
func parseRoute(pattern string, majors []string) (route, error) {
	p := strings.TrimSpace(pattern)
	var r route
	if method, path, ok := strings.Cut(p, " "); ok {
		r.method, p = strings.ToUpper(method), strings.TrimSpace(path)
		if !isToken(r.method) {
			return r, configError("WithRoute("+pattern+")", "malformed method %q", method)
		}
	}
	if !strings.HasPrefix(p, "/") {
		return r, configError("WithRoute("+pattern+")", "the path must start with /")
	}
	var canon strings.Builder
	if r.method != "" {
		canon.WriteString(r.method)
		canon.WriteByte(' ')
	}
	for s := range strings.SplitSeq(p[1:], "/") {
		if s == "" {
			continue
		}
		seg := segment{lit: s}
		if strings.HasPrefix(s, "{") {
			name, ok := strings.CutSuffix(s[1:], "}")
			if !ok || name == "" || strings.ContainsAny(name, "{}") {
				return r, configError("WithRoute("+pattern+")", "malformed parameter %q", s)
			}
			seg = segment{name: name, param: true}
			for _, m := range majors {
				seg.major = seg.major || m == name
			}
			r.majors = r.majors || seg.major
		} else if strings.ContainsAny(s, "{}") {
			return r, configError("WithRoute("+pattern+")", "malformed segment %q", s)
		} else {
			r.literals++
		}
		r.segs = append(r.segs, seg)
		canon.WriteByte('/')
		if seg.param {
			canon.WriteString("{" + seg.name + "}")
		} else {
			canon.WriteString(seg.lit)
		}
	}
	if len(r.segs) == 0 {
		canon.WriteByte('/')
	}
	r.key = canon.String()
	return r, nil
}

// isToken reports whether s is a plausible HTTP method.
func isToken(s string) bool {
	for i := range len(s) {
		c := s[i]
		if (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return s != ""
}

// trimPath drops the query and fragment of a request path.
func trimPath(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// match reports whether r matches method and path (segment by segment).
// It does not allocate.
func (r *route) match(method, path string) bool {
	if r.method != "" && !strings.EqualFold(r.method, method) {
		return false
	}
	i := 0
	for s := range strings.SplitSeq(path, "/") {
		if s == "" {
			continue
		}
		if i == len(r.segs) || (!r.segs[i].param && r.segs[i].lit != s) {
			return false
		}
		i++
	}
	return i == len(r.segs)
}

// keyFor returns the route key of a request r matches: the canonical
// pattern, followed by " name=value" for each major parameter in order.
func (r *route) keyFor(path string) string {
	if !r.majors {
		return r.key
	}
	var b strings.Builder
	b.WriteString(r.key)
	i := 0
	for s := range strings.SplitSeq(path, "/") {
		if s == "" {
			continue
		}
		if seg := r.segs[i]; seg.major {
			b.WriteString(" " + seg.name + "=" + s)
		}
		i++
	}
	return b.String()
}

// normalizedKey returns the route key of a request no pattern matches: the
// method (or * for none) and the path with empty segments dropped and each
// segment that looks like an id (see isID) replaced by {id}.
func normalizedKey(method, path string) string {
	var b strings.Builder
	b.Grow(len(method) + len(path) + 8)
	if method == "" {
		b.WriteByte('*')
	} else {
		b.WriteString(strings.ToUpper(method))
	}
	b.WriteByte(' ')
	empty := true
	for s := range strings.SplitSeq(path, "/") {
		if s == "" {
			continue
		}
		empty = false
		b.WriteByte('/')
		if isID(s) {
			b.WriteString("{id}")
		} else {
			b.WriteString(s)
		}
	}
	if empty {
		b.WriteByte('/')
	}
	return b.String()
}

// isID reports whether a path segment is an identifier rather than part of
// the route: all decimal digits (a numeric id or a snowflake), a UUID, or at
// least 16 hexadecimal digits (an object id, a hash). A version segment
// such as "v1" is not an id.
func isID(s string) bool {
	digits, hex := true, len(s) >= 16
	for i := range len(s) {
		c := s[i]
		isDigit := c >= '0' && c <= '9'
		digits = digits && isDigit
		hex = hex && (isDigit || (c|0x20 >= 'a' && c|0x20 <= 'f'))
	}
	return digits || hex || isUUID(s)
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c|0x20 < 'a' || c|0x20 > 'f') {
				return false
			}
		}
	}
	return true
}
