package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/resources"
)

// Tool is the value of results.json's "tool" field.
const Tool = "binproto bench"

// Run runs every workload selected by opts on every target, opts.Rounds
// times, and returns the results (not yet written anywhere). Progress goes
// to out. Targets are started before the first phase and closed before Run
// returns. opts.Baseline, when set, must name one of targets.
func Run(ctx context.Context, opts Options, targets []Target, out io.Writer) (*report.Results, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := checkTargets(targets, opts.Baseline); err != nil {
		return nil, err
	}
	res := newResults(&opts)
	sampler, err := resources.NewSampler(opts.SampleInterval)
	if err != nil {
		return nil, err
	}
	if err := sampler.Start(ctx); err != nil {
		return nil, err
	}
	defer sampler.Stop()

	started, err := startTargets(ctx, targets, opts.Baseline)
	defer closeTargets(targets[:len(started)])
	if err != nil {
		return nil, err
	}
	res.Targets = started

	work := plan(&opts)
	r := &runState{opts: &opts, sampler: sampler, targets: targets, res: res}
	if err := r.runAll(ctx, work, out); err != nil {
		return nil, err
	}
	r.assemble(work)
	res.Resources = convertSamples(sampler.Stop())
	res.WallSeconds = time.Since(res.StartedAt).Seconds()
	report.ComputeRatios(res)
	var note string
	if res.Checks, note = report.ComputeChecks(res, opts.Checks); note != "" {
		res.Notes = append(res.Notes, note)
	}
	return res, report.Validate(res)
}

func checkTargets(targets []Target, baseline string) error {
	if len(targets) == 0 {
		return errors.New("no targets to benchmark")
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if t.Name() == "" || seen[t.Name()] {
			return fmt.Errorf("target name %q is empty or repeated", t.Name())
		}
		seen[t.Name()] = true
	}
	if baseline != "" && !seen[baseline] {
		return fmt.Errorf("baseline %q is not among the targets", baseline)
	}
	return nil
}

func newResults(o *Options) *report.Results {
	host, _ := os.Hostname()
	cfg := o.config()
	if cfg.Sizes == nil {
		cfg.Sizes = []int{}
	}
	return &report.Results{
		SchemaVersion: report.SchemaVersion,
		Tool:          Tool,
		StartedAt:     time.Now().UTC(),
		Environment: report.Environment{
			GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH,
			NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0), Hostname: host,
		},
		Config:     cfg,
		Benchmarks: []report.Benchmark{},
		Ratios:     []report.Ratio{},
		Resources:  []report.Sample{},
		Notes:      standardNotes(),
	}
}

func standardNotes() []string {
	return []string{
		"MB/s counts payload bytes only (1 MB = 10^6 bytes); wire bytes per message include framing, headers and the final flush.",
		"CPU %, RSS, allocations per message and GC pauses cover the whole benchmark process: with an embedded server they include the server's work, and CPU % is in percent of one core.",
		"One-way streams have no replies to time: their throughput counts only the messages the server confirmed at the final flush, which is inside the measured time.",
		"Realistic latency is measured from each message's intended send time on an open-loop schedule (no coordinated omission).",
	}
}

// startTargets starts targets in order; on error it returns the ones
// started so far (to be closed) and the error.
func startTargets(ctx context.Context, targets []Target, baseline string) ([]report.TargetInfo, error) {
	var infos []report.TargetInfo
	for _, t := range targets {
		ep, err := t.Start(ctx)
		if err != nil {
			return infos, fmt.Errorf("start target %s: %w", t.Name(), err)
		}
		infos = append(infos, report.TargetInfo{
			Name: t.Name(), Baseline: t.Name() == baseline, Addr: ep.Addr, Embedded: ep.Embedded,
		})
	}
	return infos, nil
}

func closeTargets(targets []Target) {
	for _, t := range targets {
		_ = t.Close()
	}
}

func convertSamples(ss []resources.Sample) []report.Sample {
	out := make([]report.Sample, len(ss))
	for i, s := range ss {
		out[i] = report.Sample{
			T: s.T.Seconds(), CPUPercent: s.CPUPercent, RSSBytes: s.RSSBytes, Label: s.Label, Target: s.Target,
		}
	}
	return out
}
