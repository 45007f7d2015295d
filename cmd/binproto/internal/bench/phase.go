package bench

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/resources"
)

// maxErrorNotes bounds the error notes added to the results.
const maxErrorNotes = 20

// runState carries a run through its phases.
type runState struct {
	opts    *Options
	sampler *resources.Sampler
	targets []Target
	res     *report.Results
	// rounds[w][t] holds the rounds of workload w on targets[t].
	rounds     [][][]report.RoundResult
	errorNotes int
}

// runAll runs every round of every workload on every target. Within a
// round the target order rotates, so no target always runs first.
func (r *runState) runAll(ctx context.Context, work []workload, out io.Writer) error {
	r.rounds = make([][][]report.RoundResult, len(work))
	for w := range r.rounds {
		r.rounds[w] = make([][]report.RoundResult, len(r.targets))
	}
	on := make([][]int, len(work)) // on[w]: the indexes of the targets workload w runs on
	total := 0
	for w := range work {
		for ti, t := range r.targets {
			if work[w].runsOn(t, r.opts) {
				on[w] = append(on[w], ti)
			}
		}
		total += r.opts.Rounds * len(on[w])
	}
	capacity := slices.Contains(r.opts.Kinds, report.KindCapacity)
	if capacity {
		total += capacitySteps(r.opts) * len(r.capacityTargets())
	}
	prog := newProgress(out, r.opts.Progress, total)
	defer prog.finish()
	for round := 1; round <= r.opts.Rounds; round++ {
		for w, wl := range work {
			for k := range on[w] {
				ti := on[w][(k+round-1)%len(on[w])]
				t := r.targets[ti]
				prog.begin(fmt.Sprintf("round %d/%d %s %s", round, r.opts.Rounds, wl.info.ID, t.Name()))
				rr, err := r.runPhase(ctx, wl, t, round)
				if err != nil {
					return fmt.Errorf("%s on %s, round %d: %w", wl.info.ID, t.Name(), round, err)
				}
				r.rounds[w][ti] = append(r.rounds[w][ti], rr)
				prog.end(phaseLine(round, r.opts.Rounds, wl.info.ID, t.Name(), &rr))
			}
		}
	}
	if capacity {
		return r.runCapacity(ctx, prog)
	}
	return nil
}

// runPhase runs one workload once on one target and turns its counts into
// a round result.
func (r *runState) runPhase(ctx context.Context, wl workload, t Target, round int) (report.RoundResult, error) {
	runtime.GC() // start every phase from a collected heap
	r.sampler.SetPhase(wl.info.ID, t.Name())
	defer r.sampler.SetPhase("", "")
	m := &meter{sampler: r.sampler}
	pc, err := wl.run(ctx, t, m, r.opts, round)
	if err != nil {
		return report.RoundResult{}, err
	}
	if pc.firstErr != nil {
		r.note(fmt.Sprintf("%s on %s, round %d", wl.info.ID, t.Name(), round), pc.errors, pc.firstErr)
	}
	return roundResult(round, &pc, m), nil
}

// note adds a note on the errors of a phase to the results, up to
// maxErrorNotes of them.
func (r *runState) note(what string, errors uint64, first error) {
	if r.errorNotes < maxErrorNotes {
		r.errorNotes++
		r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: %d errors, first: %v", what, errors, first))
	}
}

func roundResult(round int, pc *phaseCounts, m *meter) report.RoundResult {
	secs := max(m.elapsed.Seconds(), 1e-9)
	rr := report.RoundResult{
		Round:            round,
		DurationSeconds:  secs,
		Sent:             pc.sent,
		Messages:         pc.messages,
		Errors:           pc.errors,
		Lost:             pc.lost,
		MsgsPerSec:       float64(pc.messages) / secs,
		MBPerSec:         float64(pc.payloadBytes) / 1e6 / secs,
		CPUPercent:       m.cpuPct,
		RSSMaxBytes:      m.peakRSS,
		GC:               m.gc,
		OfferedPerSec:    pc.offered,
		ClientMsgsPerSec: pc.perClient,
		Fairness:         fairness(pc.perClient),
		SlowCalls:        pc.slow,
		Held:             pc.held,
	}
	if pc.rec != nil {
		rr.Latency = pc.rec.latency()
	}
	if pc.messages > 0 {
		rr.WireBytesPerMsg = float64(pc.wire) / float64(pc.messages)
		rr.AllocsPerMsg = float64(m.mallocs) / float64(pc.messages)
	}
	return rr
}

func phaseLine(round, rounds int, id, target string, rr *report.RoundResult) string {
	line := fmt.Sprintf("round %d/%d  %-22s %-10s %10.0f msg/s %9.2f MB/s", round, rounds, id, target, rr.MsgsPerSec, rr.MBPerSec)
	if rr.Latency.Count > 0 {
		line += fmt.Sprintf("  p99 %s", report.FormatMicros(rr.Latency.P99Us))
	}
	if rr.Errors > 0 || rr.Lost > 0 {
		line += fmt.Sprintf("  errors %d lost %d", rr.Errors, rr.Lost)
	}
	return line
}

// assemble builds the benchmarks of the results from the recorded rounds:
// a target enters the benchmarks it ran, and a benchmark no target ran is
// left out with a note.
func (r *runState) assemble(work []workload) {
	for w, wl := range work {
		b := wl.info
		b.Results = make([]report.TargetResult, 0, len(r.targets))
		for ti, t := range r.targets {
			rounds := r.rounds[w][ti]
			if len(rounds) == 0 {
				continue
			}
			b.Results = append(b.Results, report.TargetResult{Target: t.Name(), Rounds: rounds,
				Summary: summary(rounds, report.IsShared(b.Kind))})
		}
		if len(b.Results) == 0 {
			r.res.Notes = append(r.res.Notes, fmt.Sprintf("%s: no target of this run can share one connection, so it did not run.", b.ID))
			continue
		}
		r.res.Benchmarks = append(r.res.Benchmarks, b)
	}
}
