package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/jedib0t/go-pretty/v6/table"
)

// The tables of the shared-connection benchmarks (concurrent, hol) and of
// their checks, for the console and the Markdown report alike.

// concurrentTable lists every concurrent benchmark per target: calls per
// second, latency and the cost per call.
func concurrentTable(r *Results) table.Writer {
	t := newTable(table.Row{"benchmark", "target", "callers", "calls/s", "min–max", "p50", "p99", "p99.9",
		"allocs/call", "wire B/call", "errors"})
	for _, b := range r.Benchmarks {
		if b.Kind != KindConcurrent {
			continue
		}
		for _, tr := range b.Results {
			s := tr.Summary
			t.AppendRow(table.Row{b.ID, tr.Target, b.Clients, FormatRate(s.MsgsPerSec.Median),
				FormatRate(s.MsgsPerSec.Min) + "–" + FormatRate(s.MsgsPerSec.Max),
				FormatMicros(s.P50Us.Median), FormatMicros(s.P99Us.Median), FormatMicros(s.P999Us.Median),
				fmt.Sprintf("%.1f", s.AllocsPerMsg.Median), fmt.Sprintf("%.0f", s.WireBytesPerMsg.Median),
				total(tr.Rounds, func(rr *RoundResult) uint64 { return rr.Errors })})
		}
	}
	return t
}

// holTable lists, per target, the fast calls of the head-of-line test: their
// latency, how many a slow call held up, and their p99.9 against the same
// run without slow calls.
func holTable(r *Results) table.Writer {
	t := newTable(table.Row{"target", "fast p50", "fast p99", "fast p99.9", "held ≥ 5 ms", "slow calls",
		"held / slow", "p99.9 without slow", "p99.9 ratio", "errors"})
	b := r.Benchmark(BenchHOL)
	if b == nil {
		return t
	}
	calm := r.Benchmark(BenchHOLNoSlow)
	count := func(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
	for _, tr := range b.Results {
		s := tr.Summary
		without, ratio := "–", "–"
		if calm != nil {
			if ctr := calm.Result(tr.Target); ctr != nil {
				without = FormatMicros(ctr.Summary.P999Us.Median)
				ratio = FormatRatio(safeDiv(s.P999Us.Median, ctr.Summary.P999Us.Median))
			}
		}
		t.AppendRow(table.Row{tr.Target, FormatMicros(s.P50Us.Median), FormatMicros(s.P99Us.Median),
			FormatMicros(s.P999Us.Median), FormatSpread(s.Held, count), FormatSpread(s.SlowCalls, count),
			FormatSpread(s.HeldPerSlow, func(v float64) string { return fmt.Sprintf("%.1f", v) }), without, ratio,
			total(tr.Rounds, func(rr *RoundResult) uint64 { return rr.Errors })})
	}
	return t
}

// checksTable lists the judged checks.
func checksTable(cs []Check, bold bool) table.Writer {
	t := newTable(table.Row{"check", "value", "limit", "result"})
	for _, c := range cs {
		op, result := "≥ ", "PASS"
		if c.AtMost {
			op = "≤ "
		}
		if !c.Pass {
			result = "FAIL"
			if bold {
				result = "**FAIL**"
			}
		}
		t.AppendRow(table.Row{c.Name, fmt.Sprintf("%.3g", c.Value), op + fmt.Sprintf("%g", c.Limit), result})
	}
	return t
}

// writeShared writes the shared-connection section: the concurrent and hol
// tables and the checks, as Markdown when md is set and for the console
// otherwise. It writes nothing when no shared benchmark ran.
func writeShared(w io.Writer, r *Results, md bool) {
	if !hasShared(r) {
		return
	}
	render := func(t table.Writer) string {
		if md {
			return t.RenderMarkdown() + "\n"
		}
		return t.Render()
	}
	heading := func(s string) {
		if md {
			fmt.Fprintf(w, "## %s\n\n", s)
		} else {
			fmt.Fprintf(w, "\n%s:\n", s)
		}
	}
	if ct := concurrentTable(r); ct.Length() > 0 {
		heading("Callers sharing one client and one connection (1 KiB echo; medians over rounds; allocations cover both sides)")
		fmt.Fprintln(w, render(ct))
	}
	if ht := holTable(r); ht.Length() > 0 {
		heading(fmt.Sprintf("Head-of-line blocking (16 fast callers and one whose every 100th call sleeps 10 ms on the server, one connection; held: fast calls ≥ %d ms)", HeldMicros/1000))
		fmt.Fprintln(w, render(ht))
	}
	if len(r.Checks) > 0 {
		heading("Targets of the shared-connection benchmarks")
		fmt.Fprintln(w, render(checksTable(r.Checks, md)))
	}
}
