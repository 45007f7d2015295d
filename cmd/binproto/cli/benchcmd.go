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

	// capacity holds the capacity mode's flags.
	capacity capacityFlags

	// candidates and baselines are the targets this command can build.
	candidates, baselines []namedTarget
}

// newBenchCmd builds `binproto bench`, measuring the targets of w.
func newBenchCmd(w wiring) *cobra.Command {
	bf := benchFlags{candidates: w.candidates, baselines: w.baselines}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Benchmark binproto against the HTTP/JSON baseline",
		Long: "bench runs the selected benchmarks (all when none is selected) on every target, every round,\n" +
			"prints summary tables, and writes results.json, PNG plots and report.md to --out.\n" +
			"By default every target's server runs embedded in this process on 127.0.0.1.",
		Example: "  binproto bench --all\n" +
			"  binproto bench --fixed --duration 2s --rounds 5\n" +
			"  binproto bench --variable --sizes 64,1KiB,64KiB --baseline none\n" +
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
	f.StringSliceVar(&bf.targets, "targets", nil, "targets to measure against the baseline (default: all in this build)")
	f.StringVar(&bf.progress, "progress", "auto", "progress display: auto (bar on a terminal), lines or none")
	bf.capacity.add(f)
	return cmd
}

// runBench runs the benchmarks as bf says and writes the results.
func runBench(ctx context.Context, bf *benchFlags, stdout io.Writer) error {
	opts, err := bf.options()
	if err != nil {
		return err
	}
	var prev *report.Results
	if bf.compare != "" {
		if prev, err = report.Load(bf.compare); err != nil {
			return usagef("--compare: %v", err)
		}
	}
	targets, notes, err := bf.buildTargets()
	if err != nil {
		return err
	}
	opts.Baseline = bf.baselineName()
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	fmt.Fprintf(stdout, "Benchmarking %s: %s, %d round(s) of %v per phase.\n",
		targetList(targets, opts.Baseline), strings.Join(opts.Kinds, ", "), opts.Rounds, opts.Duration)
	res, err := bench.Run(ctx, opts, targets, stdout)
	if err != nil {
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

// buildTargets creates the candidate targets and the baseline. It returns
// notes for the results when a candidate is not available in this build.
func (bf *benchFlags) buildTargets() ([]bench.Target, []string, error) {
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
		c, ok := find(bf.candidates, name)
		if !ok {
			return nil, nil, usagef("--targets: unknown target %q (this build has: %s)", name, bf.available())
		}
		targets = append(targets, c.build(endpoint{addr: bf.addr, token: bf.token}))
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
		targets = append(targets, b.build(endpoint{addr: bf.baselineAddr}))
	} else if bf.baselineAddr != "" {
		return nil, nil, usagef("--baseline-addr given with --baseline none")
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
	return strings.Join(names(bf.candidates), ", ")
}

func targetList(targets []bench.Target, baseline string) string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name()
		if t.Name() == baseline {
			names[i] += " (baseline)"
		}
	}
	return strings.Join(names, " and ")
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
