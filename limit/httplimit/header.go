package httplimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The rate-limit headers UpdateFromHeader reads. http.Header.Get
// canonicalizes them, so any capitalization a server sends is found; a
// header map built by hand with these exact (non-canonical) keys works too.
const (
	hdrLimit      = "X-RateLimit-Limit"
	hdrRemaining  = "X-RateLimit-Remaining"
	hdrReset      = "X-RateLimit-Reset"
	hdrResetAfter = "X-RateLimit-Reset-After"
	hdrRetryAfter = "Retry-After"
	hdrGlobal     = "X-RateLimit-Global"
	hdrBucket     = "X-RateLimit-Bucket"
)

// headerInfo is what a response's rate-limit headers say; a negative field
// is absent.
type headerInfo struct {
	limit, remaining       int64
	resetAfter, retryAfter time.Duration
	global                 bool
	bucket                 string
}

// parseHeader reads h at now. Malformed headers are reported, each as an
// error matching ErrHeader, and treated as absent.
func parseHeader(h http.Header, now time.Time) (headerInfo, error) {
	info := headerInfo{limit: -1, remaining: -1, resetAfter: -1, retryAfter: -1}
	get := func(name string) string {
		if v := h.Get(name); v != "" {
			return strings.TrimSpace(v)
		}
		if vs := h[name]; len(vs) > 0 { // a literal map with a non-canonical key
			return strings.TrimSpace(vs[0])
		}
		return ""
	}
	var errs []error
	bad := func(name, v, why string) {
		errs = append(errs, fmt.Errorf("%w: %s %q: %s", ErrHeader, name, v, why))
	}
	count := func(name string, least int64) int64 {
		v := get(name)
		if v == "" {
			return -1
		}
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil:
			bad(name, v, "not an integer")
		case n < least:
			bad(name, v, "must be at least "+strconv.FormatInt(least, 10))
		case n > maxBurst:
			bad(name, v, "too large")
		default:
			return n
		}
		return -1
	}
	info.limit = count(hdrLimit, 1)
	info.remaining = count(hdrRemaining, 0)

	if v := get(hdrResetAfter); v != "" {
		if d, ok := seconds(v); ok {
			info.resetAfter = d
		} else {
			bad(hdrResetAfter, v, "not a non-negative number of seconds")
		}
	} else if v := get(hdrReset); v != "" {
		epoch, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(epoch) || math.IsInf(epoch, 0) {
			bad(hdrReset, v, "not a Unix time in seconds")
		} else {
			info.resetAfter = secondsToDuration(max(epoch-float64(now.UnixNano())/1e9, 0))
		}
	}

	if v := get(hdrRetryAfter); v != "" {
		if d, ok := seconds(v); ok {
			info.retryAfter = d
		} else if t, err := http.ParseTime(v); err == nil {
			info.retryAfter = max(t.Sub(now), 0)
		} else {
			bad(hdrRetryAfter, v, "neither seconds nor an HTTP date")
		}
	}

	switch v := get(hdrGlobal); {
	case v == "" || strings.EqualFold(v, "false"):
	case strings.EqualFold(v, "true"):
		info.global = true
	default:
		bad(hdrGlobal, v, "not true or false")
	}
	info.bucket = get(hdrBucket)
	return info, errors.Join(errs...)
}

// seconds parses a non-negative, finite number of seconds.
func seconds(v string) (time.Duration, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 1) {
		return 0, false
	}
	return secondsToDuration(f), true
}

func secondsToDuration(f float64) time.Duration {
	if f*1e9 >= float64(never) {
		return never
	}
	return time.Duration(math.Ceil(f * 1e9))
}

// UpdateFromHeader applies the rate-limit headers of a server's response to
// req (read with http.Header.Get, so any capitalization matches), to keep
// the limiter in step with the server:
//
//   - X-RateLimit-Bucket maps req's route to the server's bucket: every
//     route mapped to the same bucket (with the same major parameters)
//     shares one route bucket from then on.
//   - X-RateLimit-Limit becomes the route bucket's burst.
//   - X-RateLimit-Remaining drains the route bucket to that many tokens
//     (it never adds tokens); when it is 0, the bucket admits nothing
//     before X-RateLimit-Reset-After seconds (or the Unix time
//     X-RateLimit-Reset) have passed.
//   - Retry-After (seconds or an HTTP date) holds the route bucket for that
//     long; with X-RateLimit-Global: true it pauses the whole limiter
//     instead (for Retry-After, or else Reset-After).
//
// It returns an error matching [ErrHeader] for each malformed header (and
// for a global limit without a duration); the well-formed headers are
// applied anyway. It does not block.
func (m *MultiTier) UpdateFromHeader(req Request, h http.Header) error {
	if !m.live {
		return m.Err()
	}
	now := time.Now()
	ns := offsetOf(now)
	info, err := parseHeader(h, now)
	st := m.st.Load()
	key, major, idx := m.route(req)
	if st.routes[idx] != nil {
		m.mu.Lock()
		if info.bucket != "" {
			alias := "bucket " + info.bucket + major
			if m.learnt[alias] == nil {
				m.learntLocked(alias, ns).home = idx // the first route's limiter holds it
			}
			m.learntLocked(key, ns).alias = alias
		}
		if l := m.learnt[key]; l != nil && l.alias != "" {
			key = l.alias
			if a := m.learnt[key]; a != nil {
				idx = a.home
			}
		}
		l := m.learntLocked(key, ns)
		if info.remaining == 0 && info.resetAfter > 0 {
			l.holdUntil(satAdd(ns, int64(info.resetAfter)))
		}
		if !info.global && info.retryAfter > 0 {
			l.holdUntil(satAdd(ns, int64(info.retryAfter)))
		}
		m.mu.Unlock()
		k := st.routes[idx]
		if info.limit > 0 && k.SetBurst(key, int(info.limit)) == nil {
			m.mu.Lock()
			m.learntLocked(key, ns).burst = int(info.limit)
			m.mu.Unlock()
		}
		if info.remaining >= 0 {
			k.DrainTo(key, int(info.remaining))
		}
	}
	if info.global {
		d := info.retryAfter
		if d < 0 {
			d = info.resetAfter
		}
		if d <= 0 {
			return errors.Join(err, fmt.Errorf("%w: %s without %s or %s", ErrHeader, hdrGlobal, hdrRetryAfter, hdrResetAfter))
		}
		m.Pause(now.Add(d))
		if m.logger != nil {
			m.logger.Log(context.Background(), slog.LevelWarn, "httplimit: the server reported a global rate limit; pausing",
				slog.String("name", m.name), slog.Duration("for", d))
		}
	}
	return err
}

// learntLocked returns what was learnt about the bucket key, creating the
// record if needed. The records are bounded by the keyed tiers' bound: to
// make room it drops the records of holds that have ended, then any. It
// must be called with m.mu held.
func (m *MultiTier) learntLocked(key string, ns int64) *learnt {
	if l := m.learnt[key]; l != nil {
		return l
	}
	if m.learnt == nil {
		m.learnt = make(map[string]*learnt)
	}
	if len(m.learnt) >= m.cfg.bound() {
		for k, l := range m.learnt {
			if l.alias == "" && l.burst == 0 && l.hold != 0 && l.hold <= ns {
				delete(m.learnt, k)
			}
		}
		for k := range m.learnt {
			if len(m.learnt) < m.cfg.bound() {
				break
			}
			delete(m.learnt, k)
		}
	}
	l := &learnt{home: -1}
	m.learnt[key] = l
	return l
}

// holdUntil makes the bucket admit nothing before until (ns), unless it is
// already held longer.
func (l *learnt) holdUntil(until int64) {
	if until == 0 {
		until = 1 // 0 means no hold
	}
	if l.hold == 0 || until > l.hold {
		l.hold = until
	}
}
