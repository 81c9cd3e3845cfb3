package schedule_test

import (
	"testing"
	"time"

	"github.com/ionkit/ion/schedule"
)

// BenchmarkCronNext measures Cron.Next for common expressions, one whose
// matches are years apart, and one across a daylight-saving gap, beside the
// stdlib baseline of rounding up to the next minute.
func BenchmarkCronNext(b *testing.B) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	after := time.Date(2026, 3, 7, 12, 0, 0, 0, ny)
	b.Run("baseline=next-minute", func(b *testing.B) {
		b.ReportAllocs()
		var t time.Time
		for b.Loop() {
			t = after.Truncate(time.Minute).Add(time.Minute)
		}
		_ = t
	})
	for _, bc := range []struct{ name, expr string }{
		{"every-minute", "* * * * *"},
		{"weekdays-9am", "0 9 * * MON-FRI"},
		{"quarter-hours-in-business", "*/15 9-17 * * 1-5"},
		{"leap-day", "0 0 29 2 *"},
		{"dst-gap", "30 2 * * *"},
	} {
		c, err := schedule.ParseCron(bc.expr, ny)
		if err != nil {
			b.Fatal(err)
		}
		b.Run("expr="+bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var t time.Time
			for b.Loop() {
				t = c.Next(after)
			}
			_ = t
		})
		b.Run("expr="+bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					_ = c.Next(after)
				}
			})
		})
	}
}

func BenchmarkParseCron(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := schedule.ParseCron("*/15 9-17 1,15 JAN-JUN MON-FRI", time.UTC); err != nil {
			b.Fatal(err)
		}
	}
}
