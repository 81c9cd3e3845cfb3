package ionhttp

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/policy"
)

// ErrServerRejected is matched by the error an attempt gets when the server
// answered 429 Too Many Requests: a [*RejectedError]. It matches
// ion.ErrRejected too, so a breaker does not count it and a Retry retries it
// no sooner than its Retry-After.
var ErrServerRejected = errors.New("ionhttp: rejected by the server (429)")

// ErrNotReplayable is the error of an attempt that the transport refused to
// send because the request is not safe to repeat: its method is not
// idempotent and it has no Idempotency-Key, or its body cannot be replayed.
// The caller never sees it: the transport returns the first attempt's
// outcome instead.
var ErrNotReplayable = errors.New("ionhttp: request not safe to repeat")

// RejectedError is the error of an attempt answered 429 Too Many Requests.
// It matches [ErrServerRejected] and ion.ErrRejected with errors.Is, and
// ion.RetryAfter returns the delay the server asked for (Retry-After in
// seconds or as an HTTP date, or else the IETF RateLimit fields' reset), so
// a Retry waits at least that long.
//
// When the transport gives up on a request whose last answer was a 429, the
// caller gets the 429 response itself, not this error.
type RejectedError struct {
	// Response is the 429 response. Its body is open until the transport
	// returns or discards it.
	Response *http.Response
	// Delay is how long the server asked the client to wait; 0 when it did
	// not say.
	Delay time.Duration
}

// Error returns "ionhttp: rejected by the server (429), retry after 2s".
func (e *RejectedError) Error() string {
	if e.Delay > 0 {
		return ErrServerRejected.Error() + ", retry after " + e.Delay.String()
	}
	return ErrServerRejected.Error()
}

// Is reports whether target is ErrServerRejected or ion.ErrRejected.
func (e *RejectedError) Is(target error) bool {
	return target == ErrServerRejected || target == ion.ErrRejected
}

// RetryAfter returns Delay, for ion.RetryAfter.
func (e *RejectedError) RetryAfter() time.Duration { return e.Delay }

// UnavailableError is the error of an attempt answered 503 Service
// Unavailable with a Retry-After: a failure (breakers count it) whose
// delay ion.RetryAfter returns, so a Retry waits at least that long. When
// the transport gives up, the caller gets the 503 response, not this error.
type UnavailableError struct {
	Response *http.Response // the 503 response
	Delay    time.Duration  // the server's Retry-After
}

// Error returns "ionhttp: service unavailable (503), retry after 1s".
func (e *UnavailableError) Error() string {
	return "ionhttp: service unavailable (503), retry after " + e.Delay.String()
}

// RetryAfter returns Delay, for ion.RetryAfter.
func (e *UnavailableError) RetryAfter() time.Duration { return e.Delay }

// Classify is the transport's default outcome classification: an error
// (a connection refused or reset, a timeout) and the statuses 500, 502, 503
// and 504 are a [policy.Failure]; every other response, 4xx included, is a
// [policy.Success] for the breaker, because the server answered. A 429 never
// reaches it: the transport turns it into a [*RejectedError], which every
// policy treats as a rejection.
func Classify(resp *http.Response, err error) policy.Outcome {
	if err != nil || resp == nil {
		return policy.Failure
	}
	switch resp.StatusCode {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return policy.Failure
	}
	return policy.Success
}

// RetryAfter reads how long a response asks the client to wait: the
// Retry-After field in seconds or as an HTTP date, else the reset of the
// IETF RateLimit field ("RateLimit: "default";r=0;t=30", or the older
// RateLimit-Reset) when the remaining quota is 0, else X-RateLimit-Reset-After
// or X-RateLimit-Reset (a Unix time) when X-RateLimit-Remaining is 0. It
// returns false when the response says nothing usable. now is the time to
// measure an HTTP date against. The delay is capped at a day, whatever its
// source: a server asking for more is treated as asking for a day.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if d, ok := parseSeconds(v); ok {
			return d, true
		}
		if t, err := http.ParseTime(v); err == nil {
			return capDay(t.Sub(now)), true
		}
	}
	q, ok := ParseQuota(h, now)
	if ok && q.Remaining == 0 {
		return q.Reset, true
	}
	return 0, false
}

// Quota is what a response says of the client's quota: the IETF RateLimit
// fields, or the X-RateLimit-* fields.
type Quota struct {
	Limit     int64         // the quota's size; -1 when not sent
	Remaining int64         // what remains of it
	Reset     time.Duration // when it is reset, from now; at most a day
}

// ParseQuota reads the quota a response reports, trying in turn the IETF
// RateLimit field (RateLimit: "name";r=<remaining>;t=<reset seconds>, with
// RateLimit-Policy: "name";q=<limit>), the earlier draft's RateLimit-Limit,
// RateLimit-Remaining and RateLimit-Reset, and X-RateLimit-Limit,
// X-RateLimit-Remaining with X-RateLimit-Reset-After (seconds) or
// X-RateLimit-Reset (a Unix time). It returns false when none is present
// and well formed. A reset further than a day is read as a day, as
// [RetryAfter] reads a delay.
func ParseQuota(h http.Header, now time.Time) (Quota, bool) {
	q := Quota{Limit: -1, Remaining: -1}
	if v := h.Get("RateLimit"); v != "" {
		if r, ok := param(v, "r"); ok {
			q.Remaining = r
			if t, ok := param(v, "t"); ok {
				q.Reset = seconds(t)
			}
			if p := h.Get("RateLimit-Policy"); p != "" {
				if l, ok := param(p, "q"); ok {
					q.Limit = l
				}
			}
			return q, true
		}
	}
	for _, prefix := range [...]string{"RateLimit-", "X-RateLimit-"} {
		r, ok := count(h.Get(prefix + "Remaining"))
		if !ok {
			continue
		}
		q.Remaining = r
		if l, ok := count(h.Get(prefix + "Limit")); ok {
			q.Limit = l
		}
		if d, ok := parseSeconds(h.Get(prefix + "Reset-After")); ok {
			q.Reset = d
		} else if v := h.Get(prefix + "Reset"); v != "" {
			if n, ok := count(v); ok && prefix == "X-RateLimit-" && n > 1e9 {
				q.Reset = capDay(time.Unix(n, 0).Sub(now)) // a Unix time
			} else if d, ok := parseSeconds(v); ok {
				q.Reset = d
			}
		}
		return q, true
	}
	return q, false
}

// param returns the integer parameter name of a structured field item such
// as `"default";r=50;t=30`.
func param(v, name string) (int64, bool) {
	for part := range strings.SplitSeq(v, ";") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok && k == name {
			return count(val)
		}
	}
	return 0, false
}

func count(v string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n, err == nil && n >= 0
}

// day is the longest delay a server's answer can ask for.
const day = 24 * time.Hour

// capDay bounds d to [0, day].
func capDay(d time.Duration) time.Duration { return min(max(d, 0), day) }

// seconds returns n seconds, at most a day (n is not negative).
func seconds(n int64) time.Duration {
	if n >= int64(day/time.Second) {
		return day
	}
	return time.Duration(n) * time.Second
}

// parseSeconds parses a non-negative, finite number of seconds, capped at a
// day: a server asking for more is treated as asking for a day.
func parseSeconds(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || !(f >= 0) || math.IsInf(f, 0) {
		return 0, false
	}
	if f >= day.Seconds() {
		return day, true
	}
	return time.Duration(math.Ceil(f * 1e9)), true
}
