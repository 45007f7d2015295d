package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// CapacityOptions configures the capacity mode (report.KindCapacity): the
// same ladder of open-loop offered rates, run on every target, that finds
// the highest rate a target serves within a p99 latency target. The zero
// value runs the default schedule: every zero field takes the default its
// comment gives.
type CapacityOptions struct {
	// SLO is the p99 latency a step must not exceed; default 10ms.
	SLO time.Duration
	// StartRate is the offered rate of the first step, in calls per
	// second; default 1000.
	StartRate float64
	// Factor multiplies the offered rate from one step to the next;
	// default 1.25. It must be above 1.
	Factor float64
	// MaxRate is the highest offered rate tried, in calls per second;
	// default 1,000,000. A ladder that meets the SLO up to it stops there.
	MaxRate float64
	// Step is the scheduled time of each step; default 2s.
	Step time.Duration
	// Conns is the number of connections the calls are spread over, each
	// used by one worker; default 64.
	Conns int
	// MaxErrorRate is the share of a step's calls that may fail (an
	// error, a wrong reply or a timeout) while the step still meets the
	// target; default 0: any error ends the ladder.
	MaxErrorRate float64
	// Attempts is how many times in a row a step must miss the target
	// before the ladder stops; default 2, so a burst of noise from other
	// processes during one step does not end the ladder. 1 stops at the
	// first miss.
	Attempts int
	// Timeout bounds each call from its intended start: a call that cannot
	// start by then is not sent, and one that ends later counts as an
	// error. Every step therefore ends within Step + Timeout. Default 1s;
	// it must exceed SLO.
	Timeout time.Duration
}

// Defaults of CapacityOptions.
const (
	DefaultSLO         = 10 * time.Millisecond
	defaultStartRate   = 1000
	defaultFactor      = 1.25
	defaultMaxRate     = 1e6
	defaultStep        = 2 * time.Second
	defaultConns       = 64
	defaultCallTimeout = time.Second
	defaultAttempts    = 2
	maxAttempts        = 10
	maxCapacitySteps   = 200
	maxCapacityConns   = 10000
	maxCapacityRate    = 1e8
	capacityOperation  = "fixed/sensor-rr"
)

// DefaultCapacity returns the default schedule, the zero value's, with
// every field set.
func DefaultCapacity() CapacityOptions { return CapacityOptions{}.withDefaults() }

// QuickCapacity returns the shorter schedule of `binproto bench --all`:
// one-second steps, each 1.5 times the rate of the one before.
func QuickCapacity() CapacityOptions {
	return CapacityOptions{Step: time.Second, Factor: 1.5}
}

// withDefaults returns c with every zero field set to its default.
func (c CapacityOptions) withDefaults() CapacityOptions {
	orDefault(&c.SLO, DefaultSLO)
	orDefault(&c.StartRate, defaultStartRate)
	orDefault(&c.Factor, defaultFactor)
	orDefault(&c.MaxRate, defaultMaxRate)
	orDefault(&c.Step, defaultStep)
	orDefault(&c.Conns, defaultConns)
	orDefault(&c.Timeout, defaultCallTimeout)
	orDefault(&c.Attempts, defaultAttempts)
	return c
}

// orDefault sets *v to d when *v is the zero value.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// validate reports the first setting of c (with defaults applied) that
// cannot be run.
func (c CapacityOptions) validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case c.SLO <= 0:
		return fmt.Errorf("capacity SLO must be positive, got %v", c.SLO)
	case !finite(c.StartRate) || c.StartRate <= 0 || c.MaxRate < c.StartRate || c.MaxRate > maxCapacityRate:
		return fmt.Errorf("capacity rates must satisfy 0 < start <= max <= %g, got %g..%g", float64(maxCapacityRate), c.StartRate, c.MaxRate)
	case !finite(c.Factor) || c.Factor <= 1:
		return fmt.Errorf("capacity factor must be above 1, got %v", c.Factor)
	case c.Step <= 0 || c.StartRate*c.Step.Seconds() < 1:
		return fmt.Errorf("capacity step %v must hold at least one call at %g calls/s", c.Step, c.StartRate)
	case c.Conns < 1 || c.Conns > maxCapacityConns:
		return fmt.Errorf("capacity connections must be between 1 and %d, got %d", maxCapacityConns, c.Conns)
	case !(c.MaxErrorRate >= 0 && c.MaxErrorRate <= 1):
		return fmt.Errorf("capacity error rate must be in [0, 1], got %v", c.MaxErrorRate)
	case c.Attempts < 1 || c.Attempts > maxAttempts:
		return fmt.Errorf("capacity attempts must be between 1 and %d, got %d", maxAttempts, c.Attempts)
	case c.Timeout <= c.SLO:
		return fmt.Errorf("capacity timeout %v must exceed the SLO %v", c.Timeout, c.SLO)
	case len(c.rates()) > maxCapacitySteps:
		return fmt.Errorf("capacity ladder of more than %d steps (raise the factor or lower the maximum rate)", maxCapacitySteps)
	}
	return nil
}

// rates returns the offered rate of every step: StartRate × Factor^k up to
// MaxRate (at most maxCapacitySteps+1 of them).
func (c CapacityOptions) rates() []float64 {
	var rs []float64
	for k := 0; k <= maxCapacitySteps; k++ {
		r := c.StartRate * math.Pow(c.Factor, float64(k))
		if r > c.MaxRate*(1+1e-9) {
			break
		}
		rs = append(rs, r)
	}
	return rs
}

// spec describes the ladder in the results, without results yet.
func (c CapacityOptions) spec() *report.Capacity {
	return &report.Capacity{
		Operation: capacityOperation, SLOUs: float64(c.SLO) / 1e3, MaxErrorRate: c.MaxErrorRate,
		StartPerSec: c.StartRate, Factor: c.Factor, MaxPerSec: c.MaxRate, StepSeconds: c.Step.Seconds(),
		TimeoutSeconds: c.Timeout.Seconds(), Conns: c.Conns, Attempts: c.Attempts, Results: []report.CapacityResult{},
	}
}

// capacitySteps is the most steps a capacity run can take, for progress.
func capacitySteps(o *Options) int {
	return len(o.Capacity.withDefaults().rates())
}

// capacityTargets returns the targets the capacity mode measures: all but
// the peers kept for the shared-connection benchmarks (Options.SharedOnly).
func (r *runState) capacityTargets() []Target {
	var ts []Target
	for _, t := range r.targets {
		if !slices.Contains(r.opts.SharedOnly, t.Name()) {
			ts = append(ts, t)
		}
	}
	return ts
}

// runCapacity runs the ladder on every target, in order, and stores the
// outcome in the results.
func (r *runState) runCapacity(ctx context.Context, prog progress) error {
	co := r.opts.Capacity.withDefaults()
	spec := co.spec()
	if w := r.opts.Schema; w != nil {
		spec.Operation = "schema/" + w.Type + "-rr" // the calls are the schema type's
	}
	for _, t := range r.capacityTargets() {
		runtime.GC()
		r.sampler.SetPhase(report.KindCapacity, t.Name())
		cr, err := r.targetCapacity(ctx, t, co, spec, prog)
		r.sampler.SetPhase("", "")
		if err != nil {
			return fmt.Errorf("capacity of %s: %w", t.Name(), err)
		}
		spec.Results = append(spec.Results, cr)
	}
	r.res.Capacity = spec
	return nil
}

// targetCapacity dials co.Conns clients to t and climbs the ladder on them.
func (r *runState) targetCapacity(ctx context.Context, t Target, co CapacityOptions, spec *report.Capacity,
	prog progress) (report.CapacityResult, error) {
	call := sensorCall
	if r.opts.Schema != nil { // bench --schema --capacity: the schema's type
		call = r.opts.Schema.call
	}
	clients := make([]Client, 0, co.Conns)
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for i := range co.Conns {
		c, err := t.Dial(ctx)
		if err != nil {
			return report.CapacityResult{}, fmt.Errorf("dial: %w", err)
		}
		clients = append(clients, c)
		if err := call(ctx, c, i); err != nil { // warm the connection up, unmeasured
			return report.CapacityResult{}, fmt.Errorf("first call: %w", err)
		}
	}
	var firstErr error
	step := func(rate float64, attempt int) (report.CapacityStep, error) {
		prog.begin(fmt.Sprintf("capacity %s %s/s", t.Name(), report.FormatRate(rate)))
		sc := openLoop(ctx, clients, rate, co.Step, co.Timeout, call)
		if err := ctx.Err(); err != nil {
			return report.CapacityStep{}, err
		}
		s := sc.step(rate)
		s.Met, s.Attempts = spec.Meets(&s), attempt
		if s.Met || attempt == co.Attempts { // the step's last attempt
			prog.end(stepLine(t.Name(), &s))
		}
		firstErr = sc.firstErr
		return s, nil
	}
	cr, err := climb(t.Name(), co.rates(), spec, step)
	if err != nil {
		return cr, err
	}
	prog.skip(len(co.rates()) - len(cr.Steps))
	if last := cr.Steps[len(cr.Steps)-1]; last.Errors > 0 {
		r.note(fmt.Sprintf("capacity of %s at %s/s", t.Name(), report.FormatRate(last.OfferedPerSec)), last.Errors, firstErr)
	}
	return cr, nil
}

// climb runs step at each rate in turn until a step misses the target of
// spec (its p99 above the SLO, or too many errors) spec.Attempts times in
// a row, or the rates run out. step runs one attempt (numbered from 1) and
// returns its figures with Met and Attempts set. The capacity is the rate
// of the last step that met the target; a step's figures are those of its
// last attempt.
func climb(target string, rates []float64, spec *report.Capacity,
	step func(rate float64, attempt int) (report.CapacityStep, error)) (report.CapacityResult, error) {
	cr := report.CapacityResult{Target: target, Stop: report.StopMaxRate, Steps: []report.CapacityStep{}}
	for _, rate := range rates {
		var s report.CapacityStep
		for attempt := 1; attempt <= spec.Attempts && !s.Met; attempt++ {
			var err error
			if s, err = step(rate, attempt); err != nil {
				return cr, err
			}
		}
		cr.Steps = append(cr.Steps, s)
		if !s.Met {
			cr.Stop = spec.StopReason(&s)
			break
		}
		cr.CapacityPerSec = rate
	}
	return cr, nil
}

func stepLine(target string, s *report.CapacityStep) string {
	verdict := "met"
	if !s.Met {
		verdict = "MISSED"
	}
	line := fmt.Sprintf("capacity  %-10s offered %8s/s achieved %8s/s", target, report.FormatRate(s.OfferedPerSec), report.FormatRate(s.AchievedPerSec))
	if s.Latency.Count > 0 {
		line += fmt.Sprintf("  p50 %s p99 %s", report.FormatMicros(s.Latency.P50Us), report.FormatMicros(s.Latency.P99Us))
	}
	line += fmt.Sprintf("  errors %d  %s", s.Errors, verdict)
	if s.Attempts > 1 {
		line += fmt.Sprintf(" (attempt %d)", s.Attempts)
	}
	return line
}

// errLate is the error of a call that did not end within the capacity
// timeout of its intended start, or could not start by then.
var errLate = errors.New("call not done within the capacity timeout of its intended start")

// stepCounts is what one open-loop step measured.
type stepCounts struct {
	scheduled, ok, errors uint64
	rec                   *recorder
	elapsed               time.Duration
	firstErr              error
}

func (sc *stepCounts) fail(err error) {
	sc.errors++
	if sc.firstErr == nil {
		sc.firstErr = err
	}
}

// step turns the counts into the step's result (Met not set).
func (sc *stepCounts) step(rate float64) report.CapacityStep {
	secs := max(sc.elapsed.Seconds(), 1e-9)
	return report.CapacityStep{
		OfferedPerSec: rate, AchievedPerSec: float64(sc.ok) / secs, DurationSeconds: secs,
		Scheduled: sc.scheduled, Messages: sc.ok, Errors: sc.errors, Latency: sc.rec.latency(),
	}
}

// openLoop schedules ceil(rate·d) calls evenly spaced from now, the i-th
// due at now + i/rate, and runs them on clients, one worker per client.
// Each worker takes the next call due. When every worker is busy, due
// calls wait, and that wait counts in their latency, measured from the
// intended start to the end of the call (no coordinated omission). A
// worker that takes a call before it is due sleeps until then and times
// the call from its wake-up: Go's timers fire up to a millisecond late,
// an error of the load generator that is not the target's. A call that
// cannot start within timeout of its intended start is not sent and counts
// as an error, as does one that ends later, so the step ends by itself
// within d + timeout.
func openLoop(ctx context.Context, clients []Client, rate float64, d, timeout time.Duration,
	call func(context.Context, Client, int) error) stepCounts {
	n := int64(math.Ceil(rate * d.Seconds()))
	start := time.Now()
	due := func(i int64) time.Time { return start.Add(time.Duration(float64(i) / rate * float64(time.Second))) }
	stepCtx, cancel := context.WithDeadline(ctx, start.Add(d+timeout))
	defer cancel()
	var next atomic.Int64
	rec := newRecorder()
	workers := make([]stepCounts, len(clients))
	var wg sync.WaitGroup
	for w, c := range clients {
		wg.Go(func() {
			sc := &workers[w]
			for i := next.Add(1) - 1; i < n; i = next.Add(1) - 1 {
				at := due(i)
				sc.scheduled++
				from := at
				if time.Until(at) > 0 { // idle: wait, then time from the wake-up
					if !sleepUntil(stepCtx, at) {
						sc.fail(errLate)
						continue
					}
					from = time.Now()
				} else if time.Since(at) > timeout {
					sc.fail(errLate)
					continue
				}
				err := call(stepCtx, c, int(i))
				lat := time.Since(from)
				if err == nil && lat > timeout {
					err = errLate
				}
				if err != nil {
					sc.fail(err)
					continue
				}
				rec.record(lat)
				sc.ok++
			}
		})
	}
	wg.Wait()
	total := stepCounts{rec: rec, elapsed: time.Since(start)}
	for _, sc := range workers {
		total.scheduled += sc.scheduled
		total.ok += sc.ok
		total.errors += sc.errors
		if total.firstErr == nil {
			total.firstErr = sc.firstErr
		}
	}
	return total
}
