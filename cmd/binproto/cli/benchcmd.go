package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// benchFlags holds the command-line settings of `binproto bench`.
type benchFlags struct {
	all, fixed, variable, realistic bool
	concurrent, hol                 bool
	sharedDuration                  time.Duration

	duration, warmup, ramp, think time.Duration
	rounds, clients               int
	sizes                         []string
	oneWay                        float64
	seed                          uint64

	out, compare            string
	threshold               float64
	failOnRegression, plots bool
	addr, baselineAddr      string
	token                   string
	baseline, progress      string
	targets                 []string
	targetsSet, baselineSet bool

	schemaFlags // --schema, --type, --var-len
	// Observability (scrape.go): the Prometheus adapter on the binproto
	// target, and the server /metrics scraped around the run.
	metricsAdapter bool
	scrape         string
	// capacity holds the capacity mode's flags.
	capacity capacityFlags

	// candidates and baselines are the targets this command can build.
	candidates, baselines []namedTarget
	// checks names the targets of the shared-connection checks.
	checks report.CheckTargets
}

// newBenchCmd builds `binproto bench`, measuring the targets of w.
func newBenchCmd(w wiring) *cobra.Command {
	bf := benchFlags{candidates: w.candidates, baselines: w.baselines, checks: w.checks}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark binproto against the HTTP/JSON and grpc-go baselines",
		Long: "bench runs the selected benchmarks (all when none is selected) on every target, every round,\n" +
			"prints summary tables, and writes results.json, PNG plots and report.md to --out.\n" +
			"By default every target's server runs embedded in this process on 127.0.0.1.",
		Example: "  binproto bench --all\n" +
			"  binproto bench --fixed --duration 2s --rounds 5\n" +
			"  binproto bench --variable --sizes 64,1KiB,64KiB --baseline none\n" +
			"  binproto bench --concurrent --hol --targets binproto,grpc\n" +
			"  binproto bench --capacity --slo 5ms\n" +
			"  binproto bench --all --compare benchmark_results/previous.json",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			bf.targetsSet = cmd.Flags().Changed("targets")
			bf.baselineSet = cmd.Flags().Changed("baseline")
			return runBench(cmd.Context(), &bf, cmd.OutOrStdout())
		},
	}
	def := bench.DefaultOptions()
	f := cmd.Flags()
	f.BoolVar(&bf.all, "all", false, "run every benchmark (the default when none is selected)")
	f.BoolVar(&bf.fixed, "fixed", false, "run the fixed-size sensor message benchmarks")
	f.BoolVar(&bf.variable, "variable", false, "run the variable payload size benchmarks")
	f.BoolVar(&bf.realistic, "realistic", false, "run the realistic many-client benchmark")
	f.BoolVar(&bf.concurrent, "concurrent", false, "run 64 callers sharing one client and one connection (1 KiB echo), and one caller alone")
	f.BoolVar(&bf.hol, "hol", false, "run the head-of-line test: 16 fast callers and one whose every 100th call is slow, one connection")
	f.DurationVar(&bf.sharedDuration, "shared-duration", def.SharedDuration, "measured time of each --concurrent and --hol phase")
	f.DurationVar(&bf.duration, "duration", def.Duration, "measured time of each phase (one benchmark, one target, one round)")
	f.DurationVar(&bf.warmup, "warmup", def.Warmup, "unmeasured warm-up before each single-client phase")
	f.IntVar(&bf.rounds, "rounds", def.Rounds, "repeat every phase this many times for spread")
	f.IntVar(&bf.clients, "clients", def.Clients, "clients of the realistic benchmark")
	f.StringSliceVar(&bf.sizes, "sizes", formatSizes(def.Sizes), "payload sizes of the variable benchmark (bytes; suffixes KiB, MiB)")
	f.DurationVar(&bf.ramp, "ramp", def.Ramp, "time over which realistic clients start")
	f.DurationVar(&bf.think, "think", def.Think, "mean think time between a realistic client's messages")
	f.Float64Var(&bf.oneWay, "one-way", def.OneWayFraction, "share of realistic messages sent one-way (0..1)")
	f.Uint64Var(&bf.seed, "seed", def.Seed, "seed of the realistic schedules and payloads")
	f.StringVar(&bf.out, "out", "benchmark_results", "`DIR` to write results.json, plots and report.md to")
	f.StringVar(&bf.compare, "compare", "", "previous results.json `FILE` to compare with; regressions are flagged")
	f.Float64Var(&bf.threshold, "threshold", report.DefaultThresholdPct, "percent by which a figure must worsen to count as a regression")
	f.BoolVar(&bf.failOnRegression, "fail-on-regression", false, "exit non-zero when --compare flags a regression")
	f.BoolVar(&bf.plots, "plots", true, "draw the PNG plots (--plots=false writes only results.json and report.md)")
	f.StringVar(&bf.addr, "addr", "", "benchmark the binproto server at `HOST:PORT` instead of an embedded one")
	f.StringVar(&bf.token, "token", "", "authenticate to the binproto server at --addr with `TOKEN` (`binproto serve --token`)")
	f.StringVar(&bf.baselineAddr, "baseline-addr", "", "benchmark the baseline server at `HOST:PORT` instead of an embedded one")
	defaultBaseline := "none"
	if len(bf.baselines) > 0 {
		defaultBaseline = bf.baselines[0].name
	}
	f.StringVar(&bf.baseline, "baseline", defaultBaseline, "baseline target: "+strings.Join(names(bf.baselines), ", ")+", or none")
	f.StringSliceVar(&bf.targets, "targets", nil, "targets to measure against the baseline: "+strings.Join(names(slices.Concat(bf.candidates, bf.baselines)), ", ")+
		" (default: every binproto target, the baseline, and the other baselines that share a connection in --concurrent and --hol only)")
	addScrapeFlags(cmd, &bf)
	f.StringVar(&bf.progress, "progress", "auto", "progress display: auto (bar on a terminal), lines or none")
	bf.schemaFlags.add(cmd)
	bf.capacity.add(f)
	return cmd
}

// runBench runs the benchmarks as bf says and writes the results.
func runBench(ctx context.Context, bf *benchFlags, stdout io.Writer) error {
	opts, err := bf.options()
	if err != nil {
		return err
	}
	if err := bf.schemaFlags.apply(&opts, bf.capacity.on); err != nil {
		return err
	}
	var prev *report.Results
	if bf.compare != "" {
		if prev, err = report.Load(bf.compare); err != nil {
			return usagef("--compare: %v", err)
		}
	}
	targets, notes, err := bf.buildTargets(&opts)
	if err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	fmt.Fprintf(stdout, "Benchmarking %s: %s, %d round(s) of %v per phase.\n",
		targetList(targets, &opts), strings.Join(opts.Kinds, ", "), opts.Rounds, opts.Duration)
	scrape, err := startScrape(ctx, bf.scrape) // scrape.go; nil without --scrape
	if err != nil {
		return err
	}
	res, err := bench.Run(ctx, opts, targets, stdout)
	if err != nil {
		return err
	}
	if err := scrape.finish(ctx, stdout, res); err != nil {
		return err
	}
	res.Notes = append(res.Notes, notes...)
	if prev != nil {
		res.Comparison = report.Compare(prev, res, bf.compare, bf.threshold)
	}
	report.WriteConsole(stdout, res)
	files, err := report.WriteFiles(bf.out, res, bf.plots)
	if err != nil {
		return fmt.Errorf("write results to %s: %w", bf.out, err)
	}
	dir, _ := filepath.Abs(bf.out)
	fmt.Fprintf(stdout, "\nWrote %d files to %s: %s\n", len(files), dir, strings.Join(files, ", "))
	fmt.Fprintf(stdout, "Report: %s\n", filepath.Join(dir, report.ReportFile))
	if c := res.Comparison; c != nil && c.Regressions > 0 && bf.failOnRegression {
		return fmt.Errorf("%d regression(s) against %s", c.Regressions, bf.compare)
	}
	return nil
}

// options turns the flags into validated bench options.
func (bf *benchFlags) options() (bench.Options, error) {
	o := bench.DefaultOptions()
	o.Kinds = nil
	if bf.fixed {
		o.Kinds = append(o.Kinds, report.KindFixed)
	}
	if bf.variable {
		o.Kinds = append(o.Kinds, report.KindVariable)
	}
	if bf.realistic {
		o.Kinds = append(o.Kinds, report.KindRealistic)
	}
	if bf.concurrent {
		o.Kinds = append(o.Kinds, report.KindConcurrent)
	}
	if bf.hol {
		o.Kinds = append(o.Kinds, report.KindHOL)
	}
	o.SharedDuration, o.Checks = bf.sharedDuration, bf.checks
	if bf.capacity.on {
		o.Kinds = append(o.Kinds, report.KindCapacity)
	}
	if bf.all || len(o.Kinds) == 0 {
		o.Kinds = bench.DefaultOptions().Kinds
	} else {
		o.Capacity = bench.CapacityOptions{} // the full schedule, not --all's
	}
	bf.capacity.apply(&o.Capacity)
	sizes, err := parseSizes(bf.sizes)
	if err != nil {
		return o, usagef("--sizes: %v", err)
	}
	o.Sizes = sizes
	o.Duration, o.Warmup, o.Rounds, o.Clients = bf.duration, bf.warmup, bf.rounds, bf.clients
	o.Ramp, o.Think, o.OneWayFraction, o.Seed = bf.ramp, bf.think, bf.oneWay, bf.seed
	switch bf.progress {
	case "auto":
		o.Progress = bench.ProgressAuto
	case "lines":
		o.Progress = bench.ProgressLines
	case "none":
		o.Progress = bench.ProgressNone
	default:
		return o, usagef("--progress must be auto, lines or none, got %q", bf.progress)
	}
	if bf.threshold <= 0 {
		return o, usagef("--threshold must be positive, got %v", bf.threshold)
	}
	if bf.out == "" {
		return o, usagef("--out must not be empty")
	}
	if bf.token != "" && bf.addr == "" {
		return o, usagef("--token needs --addr (the embedded server does not authenticate)")
	}
	if err := o.Validate(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func (bf *benchFlags) baselineName() string {
	if bf.baseline == "none" {
		return ""
	}
	return bf.baseline
}

// buildTargets creates the candidate targets, the baseline and the peers
// of the shared-connection benchmarks, and sets o.Baseline and
// o.SharedOnly. It returns notes for the results when a candidate is not
// available in this build.
func (bf *benchFlags) buildTargets(o *bench.Options) ([]bench.Target, []string, error) {
	selected := bf.targets
	if !bf.targetsSet {
		selected = names(bf.candidates)
	}
	var targets []bench.Target
	var notes []string
	for i, name := range selected {
		if slices.Contains(selected[:i], name) {
			return nil, nil, usagef("--targets: %q is listed twice", name)
		}
		if name == bf.baselineName() {
			continue // the baseline comes last, once
		}
		t, ok := bf.selectable(name)
		if !ok {
			return nil, nil, usagef("--targets: unknown target %q (this build has: %s)", name, bf.available())
		}
		targets = append(targets, t)
	}
	if len(targets) == 0 {
		if bf.addr != "" {
			return nil, nil, usagef("--addr: no binproto target %s to point it at", noCandidateReason(bf.targetsSet))
		}
		notes = append(notes, fmt.Sprintf("No binproto target %s: only the baseline was measured, so there are no ratios.", noCandidateReason(bf.targetsSet)))
	}
	if base := bf.baselineName(); base != "" {
		b, ok := find(bf.baselines, base)
		if !ok {
			return nil, nil, usagef("--baseline: unknown baseline %q (choose %s or none)", base, strings.Join(names(bf.baselines), ", "))
		}
		if t := b.build(endpoint{addr: bf.baselineAddr, schema: bf.schema}); runsAny(t, o.Kinds) {
			targets = append(targets, t)
			o.Baseline = base
		} else {
			notes = append(notes, fmt.Sprintf("The baseline %s cannot share one connection, so it runs none of the selected benchmarks: no ratios.", base))
		}
	} else if bf.baselineAddr != "" {
		return nil, nil, usagef("--baseline-addr given with --baseline none")
	}
	if !bf.targetsSet {
		targets = append(targets, bf.sharedPeers(o)...)
	}
	if len(targets) == 0 {
		return nil, nil, usagef("nothing to benchmark: no binproto target %s and --baseline is none", noCandidateReason(bf.targetsSet))
	}
	return targets, notes, nil
}

// noCandidateReason says why no candidate target runs: --targets selected
// none, or this build has none.
func noCandidateReason(targetsSet bool) string {
	if targetsSet {
		return "(--targets selects none)"
	}
	return "in this build"
}

// available lists the candidate targets for an error message.
func (bf *benchFlags) available() string {
	if len(bf.candidates) == 0 {
		return "none besides the baseline"
	}
	return strings.Join(names(slices.Concat(bf.candidates, bf.baselines)), ", ")
}

// targetList names the targets for the opening line: "a, b (baseline)
// and c (concurrent and hol only)".
func targetList(targets []bench.Target, o *bench.Options) string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name()
		if t.Name() == o.Baseline {
			names[i] += " (baseline)"
		}
		if slices.Contains(o.SharedOnly, t.Name()) {
			names[i] += " (concurrent and hol only)"
		}
	}
	if n := len(names); n > 1 {
		return strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return strings.Join(names, "")
}

// parseSizes parses sizes such as "16", "4KiB" or "1MiB".
func parseSizes(ss []string) ([]int, error) {
	out := make([]int, 0, len(ss))
	for _, orig := range ss {
		s := strings.TrimSpace(orig)
		mult := 1
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"B", 1}} {
			if strings.HasSuffix(s, u.suffix) {
				s, mult = strings.TrimSuffix(s, u.suffix), u.mult
				break
			}
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > bench.MaxPayload/mult {
			return nil, fmt.Errorf("bad size %q: want a whole number of bytes from 1 to %d, optionally with KiB or MiB", orig, bench.MaxPayload)
		}
		out = append(out, n*mult)
	}
	return out, nil
}

func formatSizes(sizes []int) []string {
	out := make([]string, len(sizes))
	for i, s := range sizes {
		out[i] = report.FormatBytes(s)
	}
	return out
}
