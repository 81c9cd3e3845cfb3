package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/ionkit/ion/limit"
)

// Duration is a time.Duration written as a string in configuration files:
// "250ms", "1.5s", "2m", as accepted by time.ParseDuration. It implements
// encoding.TextMarshaler and encoding.TextUnmarshaler, so encoding/json and
// YAML libraries that honour those interfaces (go.yaml.in/yaml/v3 does)
// read and write it as a string. The zero Duration is "0s".
type Duration time.Duration

// String returns the duration as time.Duration formats it, such as "250ms".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler: it parses text with
// time.ParseDuration and fails on anything else, a bare number included
// ("10" is ambiguous: seconds or nanoseconds?).
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(text))
	if err != nil {
		return fmt.Errorf("config: duration %q: want a number with a unit, as in \"250ms\"", text)
	}
	*d = Duration(v)
	return nil
}

// Rate is a sustained rate of events written as a string in configuration
// files: "<count>/<period>", such as "10/s", "0.5/s", "100/m", "5000/h" or
// "3/250ms", or "inf" for no limit. The period is a unit (ms, s, m, h) or a
// duration. It implements encoding.TextMarshaler and
// encoding.TextUnmarshaler. The zero Rate admits nothing but the burst.
type Rate limit.Rate

// String returns the rate in events per second, as limit.Rate formats it,
// such as "10/s", or "inf".
func (r Rate) String() string {
	if math.IsInf(float64(r), 1) || limit.Rate(r) == limit.Inf {
		return "inf"
	}
	return strconv.FormatFloat(float64(r), 'g', -1, 64) + "/s"
}

// MarshalText implements encoding.TextMarshaler.
func (r Rate) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler. It rejects a negative,
// NaN or infinite count and a period that is not positive.
func (r *Rate) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "inf" {
		*r = Rate(limit.Inf)
		return nil
	}
	count, period, ok := strings.Cut(s, "/")
	if !ok {
		return fmt.Errorf("config: rate %q: want \"<count>/<period>\", as in \"10/s\"", text)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(count), 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return fmt.Errorf("config: rate %q: the count must be a finite number ≥ 0", text)
	}
	period = strings.TrimSpace(period)
	if period != "" && (period[0] < '0' || period[0] > '9') && period[0] != '.' {
		period = "1" + period // "s" is "1s"
	}
	d, err := time.ParseDuration(period)
	if err != nil || d <= 0 {
		return fmt.Errorf("config: rate %q: the period must be a positive duration or a unit (ms, s, m, h)", text)
	}
	*r = Rate(limit.Per(n, d))
	return nil
}

// std returns d as a time.Duration.
func (d Duration) std() time.Duration { return time.Duration(d) }
