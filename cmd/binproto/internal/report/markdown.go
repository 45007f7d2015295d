package report

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// File names written by WriteFiles besides the plots.
const (
	ResultsFile = "results.json"
	ReportFile  = "report.md"
)

// WriteFiles writes results.json, every plot (unless withPlots is false),
// and report.md (which links the plots relatively) into dir, creating it if
// needed. It returns the names of the files written.
func WriteFiles(dir string, r *Results, withPlots bool) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	data, err := r.Marshal()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ResultsFile), data, 0o644); err != nil {
		return nil, err
	}
	files := []string{ResultsFile}
	var plots []string
	if withPlots {
		plots, err = WritePlots(dir, r)
		files = append(files, plots...)
		if err != nil {
			return files, err
		}
	}
	var md strings.Builder
	WriteMarkdown(&md, r, plots)
	if err := os.WriteFile(filepath.Join(dir, ReportFile), []byte(md.String()), 0o644); err != nil {
		return files, err
	}
	return append(files, ReportFile), nil
}

// WriteMarkdown writes the comparison report. plots are the PNG file names
// available next to the report; each is embedded where it belongs.
func WriteMarkdown(w io.Writer, r *Results, plots []string) {
	img := func(name, alt string) {
		if slices.Contains(plots, name) {
			fmt.Fprintf(w, "![%s](%s)\n\n", alt, name)
		}
	}
	fmt.Fprintf(w, "# binproto benchmark report\n\n")
	writeRunInfo(w, r)
	fmt.Fprintf(w, "## Against the baseline\n\n")
	if len(r.Ratios) == 0 {
		fmt.Fprintf(w, "No ratios: this run had %s.\n\n", describeTargets(r))
	} else {
		fmt.Fprintf(w, "Medians over rounds. Throughput above 1× and latency or wire bytes below 1× favour the target.\n\n")
		fmt.Fprintf(w, "%s\n\n", ratioTable(r).RenderMarkdown())
	}
	if len(r.Benchmarks) > 0 { // none when only the capacity mode ran
		fmt.Fprintf(w, "## Throughput and latency\n\n")
		img(PlotThroughput, "throughput per benchmark")
		img(PlotLatency, "latency percentiles")
		fmt.Fprintf(w, "Median over %d round(s); min–max is the spread over rounds, cv the coefficient of variation.\n\n", r.Config.Rounds)
		fmt.Fprintf(w, "%s\n\n", summaryTable(r).RenderMarkdown())
	}
	if slices.Contains(plots, PlotScalingMsg) {
		fmt.Fprintf(w, "## Variable payload sizes\n\n")
		img(PlotScalingMsg, "messages per second against payload size")
		img(PlotScalingMB, "MB/s against payload size")
	}
	if ft := fairnessTable(r); ft.Length() > 0 {
		fmt.Fprintf(w, "## Realistic load\n\n")
		fmt.Fprintf(w, "%d clients ramped up over %.2fs, mean think time %.0fms, %.0f%% one-way, sizes %s to %s (log-uniform).\n\n",
			r.Config.Clients, r.Config.RampSeconds, r.Config.ThinkSeconds*1e3, r.Config.OneWayFraction*100,
			FormatBytes(r.Config.RealisticMinSize), FormatBytes(r.Config.RealisticMaxSize))
		img(PlotClients, "per-client throughput")
		fmt.Fprintf(w, "%s\n\n", ft.RenderMarkdown())
	}
	writeShared(w, r, true)
	writeCapacityMarkdown(w, r, img)
	fmt.Fprintf(w, "## Resources\n\n")
	img(PlotCPU, "CPU over time")
	img(PlotRSS, "RSS over time")
	fmt.Fprintf(w, "%s\n\n", resourceTable(r).RenderMarkdown())
	if c := r.Comparison; c != nil {
		writeComparison(w, c)
	}
	fmt.Fprintf(w, "## Notes\n\n")
	for _, n := range r.Notes {
		fmt.Fprintf(w, "- %s\n", n)
	}
}

func writeRunInfo(w io.Writer, r *Results) {
	e, c := r.Environment, r.Config
	fmt.Fprintf(w, "Run started %s, took %.1fs. %s on %s/%s, %d CPUs (GOMAXPROCS %d).\n\n",
		r.StartedAt.Format("2006-01-02 15:04:05 UTC"), r.WallSeconds, e.GoVersion, e.GOOS, e.GOARCH, e.NumCPU, e.GOMAXPROCS)
	fmt.Fprintf(w, "Benchmarks: %s; %d round(s) of %.2fs per phase.\n\n", strings.Join(c.Kinds, ", "), c.Rounds, c.DurationSeconds)
	fmt.Fprintf(w, "| target | role | address | server |\n|---|---|---|---|\n")
	for _, t := range r.Targets {
		role, where := "candidate", "external"
		if t.Baseline {
			role = "baseline"
		}
		if t.Embedded {
			where = "embedded (in-process)"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", t.Name, role, t.Addr, where)
	}
	fmt.Fprintln(w)
}

func describeTargets(r *Results) string {
	if r.BaselineName() == "" {
		return "no baseline"
	}
	if len(r.Targets) == 1 {
		return "only the baseline " + r.BaselineName()
	}
	return "no benchmark shared by the baseline and another target"
}

func writeComparison(w io.Writer, c *Comparison) {
	fmt.Fprintf(w, "## Change since the previous run\n\n")
	fmt.Fprintf(w, "Previous run: `%s`, started %s. A regression is a throughput more than %.0f%% lower or a p99 latency more than %.0f%% higher.\n\n",
		c.Previous, c.PreviousStartedAt.Format("2006-01-02 15:04:05 UTC"), c.ThresholdPct, c.ThresholdPct)
	if c.Regressions > 0 {
		fmt.Fprintf(w, "**%d regression(s) flagged.**\n\n", c.Regressions)
	} else {
		fmt.Fprintf(w, "No regression flagged.\n\n")
	}
	fmt.Fprintf(w, "%s\n\n", comparisonTable(c, true).RenderMarkdown())
	if len(c.Unmatched) > 0 {
		fmt.Fprintf(w, "Not compared (in one run only): %s.\n\n", strings.Join(c.Unmatched, "; "))
	}
}
