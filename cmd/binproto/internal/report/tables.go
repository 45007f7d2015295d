package report

import (
	"fmt"
	"io"
	"strconv"

	"github.com/jedib0t/go-pretty/v6/table"
)

// The tables are built once and rendered either for the console or as
// Markdown.

func newTable(header table.Row) table.Writer {
	t := table.NewWriter()
	t.SetStyle(table.StyleLight)
	t.AppendHeader(header)
	return t
}

// summaryTable lists throughput and latency per benchmark and target, with
// the spread over rounds and the ratio to the baseline.
func summaryTable(r *Results) table.Writer {
	t := newTable(table.Row{"benchmark", "target", "msgs/s", "min–max", "cv", "MB/s", "p50", "p99 (min–max)", "p99.9", "max", "errors", "lost", "× baseline"})
	for _, b := range r.Benchmarks {
		for _, tr := range b.Results {
			s := tr.Summary
			row := table.Row{b.ID, tr.Target, FormatRate(s.MsgsPerSec.Median),
				FormatRate(s.MsgsPerSec.Min) + "–" + FormatRate(s.MsgsPerSec.Max), cv(s.MsgsPerSec),
				fmt.Sprintf("%.2f", s.MBPerSec.Median)}
			if hasLatency(&tr) {
				row = append(row, FormatMicros(s.P50Us.Median), FormatSpread(s.P99Us, FormatMicros),
					FormatMicros(s.P999Us.Median), FormatMicros(s.MaxUs.Median))
			} else {
				row = append(row, "–", "–", "–", "–")
			}
			row = append(row, total(tr.Rounds, func(rr *RoundResult) uint64 { return rr.Errors }),
				total(tr.Rounds, func(rr *RoundResult) uint64 { return rr.Lost }), ratioCell(r, b.ID, tr.Target))
			t.AppendRow(row)
		}
	}
	return t
}

// resourceTable lists the cost per message and the process's resource use
// per benchmark and target (medians over rounds).
func resourceTable(r *Results) table.Writer {
	t := newTable(table.Row{"benchmark", "target", "wire B/msg", "allocs/msg", "CPU %", "peak RSS MB", "GCs", "GC pause ms"})
	for _, b := range r.Benchmarks {
		for _, tr := range b.Results {
			s := tr.Summary
			gcs := total(tr.Rounds, func(rr *RoundResult) uint64 { return uint64(rr.GC.Count) })
			t.AppendRow(table.Row{b.ID, tr.Target, fmt.Sprintf("%.0f", s.WireBytesPerMsg.Median),
				fmt.Sprintf("%.1f", s.AllocsPerMsg.Median), fmt.Sprintf("%.0f", s.CPUPercent.Median),
				fmt.Sprintf("%.1f", s.RSSMaxMB.Max), gcs, fmt.Sprintf("%.2f", s.GCPauseTotalMs.Median)})
		}
	}
	return t
}

// fairnessTable lists per-client throughput of the realistic benchmark.
func fairnessTable(r *Results) table.Writer {
	t := newTable(table.Row{"benchmark", "target", "round", "clients", "offered/s", "achieved/s", "client min", "client median", "client max", "Jain"})
	for _, b := range r.Benchmarks {
		if b.Kind != KindRealistic {
			continue
		}
		for _, tr := range b.Results {
			for _, rr := range tr.Rounds {
				f := rr.Fairness
				t.AppendRow(table.Row{b.ID, tr.Target, rr.Round, b.Clients, FormatRate(rr.OfferedPerSec),
					FormatRate(rr.MsgsPerSec), fmt.Sprintf("%.1f", f.MinMsgsPerSec), fmt.Sprintf("%.1f", f.MedianMsgsPerSec),
					fmt.Sprintf("%.1f", f.MaxMsgsPerSec), fmt.Sprintf("%.3f", f.Jain)})
			}
		}
	}
	return t
}

// ratioTable lists every target against the baseline.
func ratioTable(r *Results) table.Writer {
	t := newTable(table.Row{"benchmark", "target / baseline", "throughput", "p99 latency", "wire bytes"})
	for _, q := range r.Ratios {
		t.AppendRow(table.Row{q.Benchmark, q.Target + " / " + q.Baseline, FormatRatio(q.Throughput),
			FormatRatio(q.P99), FormatRatio(q.WireBytes)})
	}
	return t
}

// comparisonTable lists the changes against the previous run.
func comparisonTable(c *Comparison, bold bool) table.Writer {
	t := newTable(table.Row{"benchmark", "target", "metric", "previous", "current", "change", ""})
	for _, ch := range c.Changes {
		flag := ""
		if ch.Regression {
			flag = "REGRESSION"
			if bold {
				flag = "**REGRESSION**"
			}
		}
		f := FormatRate
		if ch.Metric == MetricP99 {
			f = FormatMicros
		}
		t.AppendRow(table.Row{ch.Benchmark, ch.Target, ch.Metric, f(ch.Previous), f(ch.Current),
			fmt.Sprintf("%+.1f%%", ch.ChangePct), flag})
	}
	return t
}

func ratioCell(r *Results, bench, target string) string {
	for _, q := range r.Ratios {
		if q.Benchmark == bench && q.Target == target {
			return FormatRatio(q.Throughput)
		}
	}
	return "–"
}

func cv(s Stat) string {
	if s.N < 2 || s.Mean == 0 {
		return "–"
	}
	return strconv.FormatFloat(s.Stddev/s.Mean*100, 'f', 1, 64) + "%"
}

func total(rounds []RoundResult, f func(*RoundResult) uint64) uint64 {
	var n uint64
	for i := range rounds {
		n += f(&rounds[i])
	}
	return n
}

// WriteConsole prints the summary, resource, fairness and comparison tables.
func WriteConsole(w io.Writer, r *Results) {
	if len(r.Benchmarks) > 0 { // none when only the capacity mode ran
		fmt.Fprintf(w, "\nThroughput and latency (median over %d round(s); cv = stddev/mean):\n", r.Config.Rounds)
		fmt.Fprintln(w, summaryTable(r).Render())
		fmt.Fprintln(w, "\nResources (whole process; medians over rounds, peak RSS is the maximum):")
		fmt.Fprintln(w, resourceTable(r).Render())
	}
	writeShared(w, r, false)
	if ft := fairnessTable(r); ft.Length() > 0 {
		fmt.Fprintln(w, "\nRealistic load, per-client throughput (msgs/s):")
		fmt.Fprintln(w, ft.Render())
	}
	writeCapacityConsole(w, r)
	if len(r.Ratios) > 0 {
		fmt.Fprintln(w, "\nAgainst the baseline (throughput above 1× and latency below 1× are better):")
		fmt.Fprintln(w, ratioTable(r).Render())
	}
	if c := r.Comparison; c != nil {
		fmt.Fprintf(w, "\nChange since %s (regression: more than %.0f%% worse):\n", c.Previous, c.ThresholdPct)
		fmt.Fprintln(w, comparisonTable(c, false).Render())
		fmt.Fprintf(w, "%d regression(s).\n", c.Regressions)
	}
}
