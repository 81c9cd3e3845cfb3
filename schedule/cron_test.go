package schedule_test

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests need America/New_York on any machine

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ionkit/ion"
	"github.com/ionkit/ion/schedule"
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(t, err)
	return loc
}

func mustCron(t testing.TB, expr string, loc *time.Location) *schedule.Cron {
	t.Helper()
	c, err := schedule.ParseCron(expr, loc)
	require.NoError(t, err, "ParseCron(%q)", expr)
	return c
}

func TestParseCronErrors(t *testing.T) {
	tests := []struct {
		expr  string
		param string
		msg   string // the whole message, when the test pins it
	}{
		{"", "expression", ""},
		{"* * * *", "expression", ""},
		{"* * * * * *", "expression", ""},
		{"60 * * * *", "minute", "schedule: invalid configuration: minute: 60 out of range 0-59"},
		{"* 24 * * *", "hour", "schedule: invalid configuration: hour: 24 out of range 0-23"},
		{"* * 32 * *", "day-of-month", "schedule: invalid configuration: day-of-month: 32 out of range 1-31"},
		{"* * 0 * *", "day-of-month", ""},
		{"* * * 13 *", "month", ""},
		{"* * * 0 *", "month", ""},
		{"* * * * 8", "day-of-week", ""},
		{"*/0 * * * *", "minute", ""},
		{"*/60 * * * *", "minute", ""},
		{"5-1 * * * *", "minute", ""},
		{"FRI-MON * * * *", "minute", ""},
		{"* * * * FRI-MON", "day-of-week", ""},
		{"a * * * *", "minute", ""},
		{"-1 * * * *", "minute", ""},
		{"+1 * * * *", "minute", ""},
		{"1,,2 * * * *", "minute", ""},
		{"1- * * * *", "minute", ""},
		{"? * * * *", "minute", ""},
		{"* * * ? *", "month", ""},
		{"0001 * * * *", "minute", ""},
		{"* * * FOO *", "month", ""},
		{"0 0 30 2 *", "day-of-month", "schedule: invalid configuration: day-of-month: 30 never occurs in month 2"},
		{"0 0 31 4,6,9,11 *", "day-of-month", ""},
		{"0 0 31 FEB ?", "day-of-month", ""},
		{"@fortnightly", "descriptor", ""},
		{"@every", "@every", ""},
		{"@every -1s", "@every", ""},
		{"@every 0s", "@every", ""},
		{"@every soon", "@every", ""},
		{"CRON_TZ=Mars/Olympus 0 0 * * *", "time zone", ""},
		{"TZ= 0 0 * * *", "time zone", ""},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			c, err := schedule.ParseCron(tc.expr, time.UTC)
			require.Error(t, err, "ParseCron(%q) must fail", tc.expr)
			assert.Nil(t, c)
			assert.ErrorIs(t, err, ion.ErrInvalidConfig)
			var ce *ion.ConfigError
			ok := errors.As(err, &ce)
			require.True(t, ok, "ParseCron(%q) = %v, want a *ion.ConfigError", tc.expr, err)
			assert.Equal(t, "schedule", ce.Pkg)
			assert.Equal(t, tc.param, ce.Param, "ParseCron(%q) = %v: wrong field named", tc.expr, err)
			if tc.msg != "" {
				assert.EqualError(t, err, tc.msg)
			}
		})
	}
}

func TestParseCronValid(t *testing.T) {
	for _, expr := range []string{
		"* * * * *", "0 0 29 2 *", "0 0 30 2 MON", "0 9 * jan-Mar mon-FRI", "*/15 8-18/2 1,15 * 1-5",
		"5/10 * * * *", "0 0 ? * 7", "0 0 * * 5-7", "  0 0 * * *  ", "@YEARLY", "@annually", "@monthly",
		"@weekly", "@daily", "@midnight", "@hourly", "@every 1h30m", "CRON_TZ=Asia/Tokyo 0 9 * * *",
		"TZ=America/New_York @daily", "cron_tz=UTC 0 0 1 1 *",
	} {
		c, err := schedule.ParseCron(expr, nil)
		require.NoError(t, err, "ParseCron(%q)", expr)
		assert.Equal(t, expr, c.String())
	}
}

func TestCronNext(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	sp := mustLoad(t, "America/Sao_Paulo")
	lh := mustLoad(t, "Australia/Lord_Howe")
	utc := time.UTC
	at := func(loc *time.Location, s string) time.Time {
		t.Helper()
		v, err := time.ParseInLocation("2006-01-02 15:04:05 MST", s, loc)
		if err != nil {
			v, err = time.ParseInLocation("2006-01-02 15:04", s, loc)
		}
		require.NoError(t, err, s)
		return v
	}
	// In 2026 New York springs forward on March 8 (02:00 EST becomes 03:00
	// EDT) and falls back on November 1 (02:00 EDT becomes 01:00 EST).
	tests := []struct {
		name  string
		expr  string
		loc   *time.Location
		after time.Time
		want  []time.Time // successive firings
	}{
		{"every minute", "* * * * *", utc, at(utc, "2026-01-01 10:15"),
			[]time.Time{at(utc, "2026-01-01 10:16"), at(utc, "2026-01-01 10:17")}},
		{"seconds are truncated", "* * * * *", utc, at(utc, "2026-01-01 10:15").Add(59 * time.Second),
			[]time.Time{at(utc, "2026-01-01 10:16")}},
		{"hourly", "@hourly", utc, at(utc, "2026-01-01 23:15"),
			[]time.Time{at(utc, "2026-01-02 00:00"), at(utc, "2026-01-02 01:00")}},
		{"weekly is Sunday midnight", "@weekly", utc, at(utc, "2026-01-01 00:00"),
			[]time.Time{at(utc, "2026-01-04 00:00"), at(utc, "2026-01-11 00:00")}},
		{"yearly", "@yearly", utc, at(utc, "2026-06-01 00:00"),
			[]time.Time{at(utc, "2027-01-01 00:00"), at(utc, "2028-01-01 00:00")}},
		{"monthly", "@monthly", utc, at(utc, "2026-01-31 00:00"),
			[]time.Time{at(utc, "2026-02-01 00:00"), at(utc, "2026-03-01 00:00")}},
		{"every", "@every 90s", utc, at(utc, "2026-01-01 00:00"),
			[]time.Time{at(utc, "2026-01-01 00:01").Add(30 * time.Second), at(utc, "2026-01-01 00:03")}},
		{"weekdays in business hours", "0 9-17/4 * * MON-FRI", utc, at(utc, "2026-01-02 14:00"), // a Friday
			[]time.Time{at(utc, "2026-01-02 17:00"), at(utc, "2026-01-05 09:00"), at(utc, "2026-01-05 13:00")}},
		{"7 is Sunday", "0 0 * * 7", utc, at(utc, "2026-01-01 00:00"),
			[]time.Time{at(utc, "2026-01-04 00:00")}},
		{"month names", "0 0 1 mar,SEP *", utc, at(utc, "2026-01-01 00:00"),
			[]time.Time{at(utc, "2026-03-01 00:00"), at(utc, "2026-09-01 00:00"), at(utc, "2027-03-01 00:00")}},
		// Both day fields restricted: either matches.
		{"day OR rule", "0 0 13 * FRI", utc, at(utc, "2026-01-01 00:00"), // Jan 1 2026 is a Thursday
			[]time.Time{at(utc, "2026-01-02 00:00"), at(utc, "2026-01-09 00:00"), at(utc, "2026-01-13 00:00")}},
		// A day field starting with * is unrestricted: both must match.
		{"day AND rule with a starred step", "0 0 */2 * FRI", utc, at(utc, "2026-01-01 00:00"),
			[]time.Time{at(utc, "2026-01-09 00:00"), at(utc, "2026-01-23 00:00")}},
		{"leap day", "0 0 29 2 *", utc, at(utc, "2025-01-01 00:00"),
			[]time.Time{at(utc, "2028-02-29 00:00"), at(utc, "2032-02-29 00:00")}},
		{"leap day across 2100", "0 0 29 2 *", utc, at(utc, "2096-03-01 00:00"),
			[]time.Time{at(utc, "2104-02-29 00:00")}},
		{"31st skips short months", "0 0 31 * *", utc, at(utc, "2026-01-31 00:00"),
			[]time.Time{at(utc, "2026-03-31 00:00"), at(utc, "2026-05-31 00:00")}},
		{"zone prefix", "CRON_TZ=Asia/Tokyo 0 9 * * *", utc, at(utc, "2026-01-01 01:00"),
			[]time.Time{at(utc, "2026-01-02 00:00")}},
		{"location", "0 9 * * *", ny, at(utc, "2026-01-01 15:00"),
			[]time.Time{at(utc, "2026-01-02 14:00")}},
		// Spring forward: 02:30 does not exist on March 8; the job fires at
		// the first instant after the gap, 03:00 EDT, and at 02:30 after.
		{"spring forward: skipped time fires after the gap", "30 2 * * *", ny, at(ny, "2026-03-07 03:00"),
			[]time.Time{at(utc, "2026-03-08 07:00"), at(ny, "2026-03-09 02:30")}},
		{"spring forward: skipped times collapse", "0,15,30,45 2 * * *", ny, at(ny, "2026-03-08 00:00"),
			[]time.Time{at(utc, "2026-03-08 07:00"), at(ny, "2026-03-09 02:00")}},
		{"spring forward: hourly", "30 * * * *", ny, at(ny, "2026-03-08 01:00"),
			[]time.Time{at(utc, "2026-03-08 06:30"), at(utc, "2026-03-08 07:00"), at(utc, "2026-03-08 07:30")}},
		// Fall back: 01:30 happens twice on November 1; the job fires once,
		// at the first (EDT) occurrence.
		{"fall back: repeated time fires once", "30 1 * * *", ny, at(ny, "2026-11-01 00:00"),
			[]time.Time{at(utc, "2026-11-01 05:30"), at(utc, "2026-11-02 06:30")}},
		{"fall back: frequent job is silent in the repeated hour", "*/30 * * * *", ny, at(utc, "2026-11-01 05:00"),
			[]time.Time{at(utc, "2026-11-01 05:30"), at(utc, "2026-11-01 07:00"), at(utc, "2026-11-01 07:30")}},
		{"fall back: after inside the repeated hour", "*/30 * * * *", ny, at(utc, "2026-11-01 06:10"),
			[]time.Time{at(utc, "2026-11-01 07:00")}},
		{"fall back: 02:00 happens once", "0 2 * * *", ny, at(utc, "2026-11-01 04:00"),
			[]time.Time{at(utc, "2026-11-01 07:00")}},
		// Midnight skipped (Sao Paulo sprang forward at 00:00 until 2019):
		// a daily job runs at 01:00 that day.
		{"spring forward at midnight", "@daily", sp, at(sp, "2018-11-03 12:00"),
			[]time.Time{at(utc, "2018-11-04 03:00"), at(utc, "2018-11-05 02:00")}},
		// Lord Howe Island moves its clocks by half an hour.
		{"half-hour gap", "15 2 * * *", lh, at(lh, "2026-10-03 12:00"),
			[]time.Time{at(utc, "2026-10-03 15:30"), at(utc, "2026-10-04 15:15")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCron(t, tc.expr, tc.loc)
			after := tc.after
			for i, want := range tc.want {
				got := c.Next(after)
				require.True(t, got.Equal(want), "firing %d: Next(%v) = %v, want %v", i, after, got, want.In(got.Location()))
				after = got
			}
		})
	}
}

// TestCronNextSpringForwardInstant pins the firing of a skipped time to the
// transition itself: 07:00 UTC, 03:00 EDT.
func TestCronNextSpringForwardInstant(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	c := mustCron(t, "30 2 * * *", ny)
	got := c.Next(time.Date(2026, 3, 7, 12, 0, 0, 0, ny))
	assert.Equal(t, time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC), got.UTC())
	assert.Equal(t, "EDT", got.Format("MST"), "the firing is reported in the cron's location")
}

func TestCronNextNever(t *testing.T) {
	var zero schedule.Cron
	assert.True(t, zero.Next(time.Now()).IsZero(), "the zero Cron never fires")
	var nilCron *schedule.Cron
	assert.True(t, nilCron.Next(time.Now()).IsZero(), "a nil Cron never fires")
}

func TestCronNextAllocs(t *testing.T) {
	ny := mustLoad(t, "America/New_York")
	c := mustCron(t, "30 2 * * *", ny)
	after := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	allocs := testing.AllocsPerRun(100, func() { _ = c.Next(after) })
	assert.Zero(t, allocs, "Next must not allocate, even across a DST gap")
}

// FuzzParseCron checks that the parser never panics, that everything it
// refuses is a *ion.ConfigError naming a field, and that what it accepts
// fires strictly after the time asked, on the minute (for cron fields).
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"* * * * *", "0 0 29 2 *", "*/15 8-18/2 1,15 * 1-5", "5/10 * * * *", "0 0 ? * 7", "@hourly",
		"@every 1h", "CRON_TZ=America/New_York 30 2 * * *", "0 0 30 2 *", "60 * * * *", "1-/ * * * *",
		"0 0 13 * FRI", "*/0 * * * *", "TZ=", "@every -5m", ",,,,", "0-59/59 0-23/23 1-31/31 1-12/12 0-7/7",
	} {
		f.Add(s, int64(1772000000))
	}
	params := map[string]bool{"minute": true, "hour": true, "day-of-month": true, "month": true,
		"day-of-week": true, "expression": true, "descriptor": true, "@every": true, "time zone": true}
	ny := mustLoad(f, "America/New_York") // DST since 1918, and LMT offsets with seconds before 1883
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		c, err := schedule.ParseCron(expr, ny)
		if err != nil {
			var ce *ion.ConfigError
			ok := errors.As(err, &ce)
			if !ok || !errors.Is(err, ion.ErrInvalidConfig) || !params[ce.Param] {
				t.Fatalf("ParseCron(%q) = %v, want a *ion.ConfigError naming a field", expr, err)
			}
			return
		}
		after := time.Unix(unix%(1<<34), 0) // years 1970-2514 and back
		next := c.Next(after)
		if next.IsZero() {
			t.Fatalf("ParseCron(%q).Next(%v) = zero, want a firing", expr, after)
		}
		if !next.After(after) {
			t.Fatalf("ParseCron(%q).Next(%v) = %v, not after", expr, after, next)
		}
		// A firing is on a minute of the wall clock, or is the first instant
		// after a gap in it (a zone transition).
		_, offBefore := next.Add(-time.Second).Zone()
		_, off := next.Zone()
		if !strings.Contains(strings.ToLower(expr), "@every") && next.Second() != 0 && offBefore == off {
			t.Fatalf("ParseCron(%q).Next(%v) = %v, not on a minute", expr, after, next)
		}
	})
}

// TestCronNextMatchesBruteForce compares Next with a minute-by-minute
// search in UTC for random expressions built from explicit sets, the day
// rule included.
func TestCronNextMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	subset := func(lo, hi int, p float64) []int {
		var out []int
		for v := lo; v <= hi; v++ {
			if rng.Float64() < p {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			out = append(out, lo+rng.IntN(hi-lo+1))
		}
		return out
	}
	list := func(vs []int) string {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = strconv.Itoa(v)
		}
		return strings.Join(parts, ",")
	}
	in := func(vs []int, v int) bool { return slices.Contains(vs, v) }
	for i := range 100 {
		mins, hours := subset(0, 59, 0.1), subset(0, 23, 0.3)
		doms, dows := subset(1, 31, 0.2), subset(0, 6, 0.3)
		domStar, dowStar := rng.IntN(3) == 0, rng.IntN(3) == 0
		domF, dowF := list(doms), list(dows)
		if domStar {
			domF = "*"
		}
		if dowStar {
			dowF = "*"
		}
		expr := strings.Join([]string{list(mins), list(hours), domF, "*", dowF}, " ")
		c := mustCron(t, expr, time.UTC)
		matches := func(u time.Time) bool {
			domOK := domStar || in(doms, u.Day())
			dowOK := dowStar || in(dows, int(u.Weekday()))
			day := domOK && dowOK
			if !domStar && !dowStar {
				day = in(doms, u.Day()) || in(dows, int(u.Weekday()))
			}
			return in(mins, u.Minute()) && in(hours, u.Hour()) && day
		}
		after := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.IntN(500_000)) * time.Minute).Add(17 * time.Second)
		want := after.Truncate(time.Minute).Add(time.Minute)
		for !matches(want) {
			want = want.Add(time.Minute)
		}
		got := c.Next(after)
		require.True(t, got.Equal(want), "case %d: ParseCron(%q).Next(%v) = %v, want %v", i, expr, after, got, want)
	}
}
