package bench_test

import (
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/ionkit/ion/schedule"
)

// The cron twins: the same expression, in the same zone, asked for its next
// firing from the same instant, by Ion's schedule.Cron and robfig/cron v3's
// SpecSchedule (the cron library Go users reach for first).

const cronExpr = "*/15 9-17 * * MON-FRI"

var cronFrom = time.Date(2026, 3, 6, 18, 0, 0, 0, time.UTC) // a Friday evening: the next firing is Monday

func ionCron(b *testing.B, expr string) *schedule.Cron {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		b.Fatal(err)
	}
	c, err := schedule.ParseCron(expr, ny)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func robfigCron(b *testing.B, expr string) cron.Schedule {
	c, err := cron.ParseStandard("CRON_TZ=America/New_York " + expr)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// CronNext: the next firing of a business-hours expression, over a weekend.
var cronNext = register("CronNext",
	impl{"ion", func(b *testing.B) {
		c := ionCron(b, cronExpr)
		for b.Loop() {
			_ = c.Next(cronFrom)
		}
	}},
	impl{"robfig", func(b *testing.B) {
		c := robfigCron(b, cronExpr)
		for b.Loop() {
			_ = c.Next(cronFrom)
		}
	}},
)

func BenchmarkCronNext(b *testing.B) { cronNext.run(b) }

// CronNextDST: a nightly 02:30 job asked on the eve of New York's
// spring-forward night, when 02:30 does not exist (Ion fires at 03:00 EDT).
var cronNextDST = register("CronNextDST",
	impl{"ion", func(b *testing.B) {
		c := ionCron(b, "30 2 * * *")
		for b.Loop() {
			_ = c.Next(cronFrom)
		}
	}},
	impl{"robfig", func(b *testing.B) {
		c := robfigCron(b, "30 2 * * *")
		for b.Loop() {
			_ = c.Next(cronFrom)
		}
	}},
)

func BenchmarkCronNextDST(b *testing.B) { cronNextDST.run(b) }

// CronParse: parsing the business-hours expression.
var cronParse = register("CronParse",
	impl{"ion", func(b *testing.B) {
		for b.Loop() {
			if _, err := schedule.ParseCron(cronExpr, time.UTC); err != nil {
				b.Fatal(err)
			}
		}
	}},
	impl{"robfig", func(b *testing.B) {
		for b.Loop() {
			if _, err := cron.ParseStandard(cronExpr); err != nil {
				b.Fatal(err)
			}
		}
	}},
)

func BenchmarkCronParse(b *testing.B) { cronParse.run(b) }
