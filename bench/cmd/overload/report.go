package main

import (
	"fmt"
	"strings"
	"time"
)

// table renders the comparison as a markdown table.
func table(c config, rs []*result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Server: %d slots, %v base service time (×1.5 at full load), deadline %v; offered %.0f calls/s (%.1f× the healthy capacity of %.0f/s); capacity halved from %v to %v. Seed %d.\n\n",
		c.slots, c.base, c.deadline, c.load*c.capacity(), c.load, c.capacity(), c.phase, 2*c.phase, c.seed)
	b.WriteString("| variant | goodput, whole run | p50 / p99, whole run | goodput healthy | goodput halved | goodput recovered | p50 / p99 healthy | p50 / p99 halved | settle after halving (goodput / limit) | settle after recovery (goodput / limit) | critical calls answered, halved ÷ healthy |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rs {
		h, d, u := r.phase(c, 0), r.phase(c, 1), r.phase(c, 2)
		crit := 0.0
		if h.critAnswered > 0 {
			crit = d.critAnswered / h.critAnswered
		}
		g, p50, p99 := r.total(c)
		fmt.Fprintf(&b, "| %s | %.0f/s | %s / %s | %.0f/s | %.0f/s | %.0f/s | %s / %s | %s / %s | %s / %s | %s / %s | %.0f %% |\n",
			r.name, g, ms(p50), ms(p99), h.goodput, d.goodput, u.goodput, ms(h.p50), ms(h.p99), ms(d.p50), ms(d.p99),
			settled(d.settle), settled(d.limitSettle), settled(u.settle), settled(u.limitSettle), 100*crit)
	}
	return b.String()
}

// traces renders each variant's limit and goodput per second.
func traces(rs []*result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "\n%s\n  limit:  ", r.name)
		for _, x := range r.bins {
			fmt.Fprintf(&b, "%4d", x.limit)
		}
		b.WriteString("\n  good/s: ")
		for _, x := range r.bins {
			fmt.Fprintf(&b, "%4d", x.good)
		}
		b.WriteString("\n  late/s: ")
		for _, x := range r.bins {
			fmt.Fprintf(&b, "%4d", x.late)
		}
		b.WriteString("\n")
	}
	return b.String()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/1e6) }

func settled(d time.Duration) string {
	if d < 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f s", d.Seconds())
}
