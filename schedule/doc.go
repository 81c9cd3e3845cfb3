// Package schedule runs jobs at times: after a delay, at a fixed rate, with a
// fixed delay between runs, or on cron expressions in a time zone.
package schedule
