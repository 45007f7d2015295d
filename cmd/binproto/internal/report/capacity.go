package report

import (
	"errors"
	"fmt"
	"slices"
)

// KindCapacity selects the capacity mode in Config.Kinds. Its outcome is
// in Results.Capacity, not in Benchmarks.
const KindCapacity = "capacity"

// CapacityID names the capacity mode in Ratio.Benchmark: the ratio's
// Throughput is the target's capacity over the baseline's.
const CapacityID = "capacity"

// Reasons a capacity ladder ended, the values of CapacityResult.Stop.
const (
	// StopLatency: a step's p99 latency exceeded the SLO.
	StopLatency = "p99_above_slo"
	// StopErrors: a step's errors exceeded the allowed share.
	StopErrors = "errors"
	// StopMaxRate: every step up to the maximum rate met the SLO.
	StopMaxRate = "max_rate"
)

// Capacity is the outcome of the capacity mode: the same ladder of
// offered (open-loop) rates run on every target, and for each the highest
// rate whose p99 latency, measured from each call's intended start, stayed
// within the SLO with no more errors than allowed.
type Capacity struct {
	// Operation names the call the steps issue (a benchmark ID such as
	// "fixed/sensor-rr").
	Operation string `json:"operation"`
	// SLOUs is the p99 latency target in microseconds.
	SLOUs float64 `json:"slo_us"`
	// MaxErrorRate is the share of a step's calls that may fail while the
	// step still meets the target (0: none).
	MaxErrorRate float64 `json:"max_error_rate"`
	// StartPerSec, Factor and MaxPerSec define the ladder: StartPerSec ×
	// Factor^k calls per second, up to MaxPerSec.
	StartPerSec float64 `json:"start_per_sec"`
	Factor      float64 `json:"factor"`
	MaxPerSec   float64 `json:"max_per_sec"`
	// StepSeconds is the scheduled time of each step.
	StepSeconds float64 `json:"step_seconds"`
	// TimeoutSeconds bounds one call from its intended start; a later call
	// counts as an error.
	TimeoutSeconds float64 `json:"timeout_seconds"`
	// Conns is the number of connections the calls are spread over.
	Conns int `json:"conns"`
	// Attempts is how many times in a row a step must miss the target
	// before the ladder stops.
	Attempts int              `json:"attempts"`
	Results  []CapacityResult `json:"results"`
}

// CapacityResult is one target's ladder.
type CapacityResult struct {
	Target string `json:"target"`
	// CapacityPerSec is the highest offered rate that met the SLO: the
	// last step before the ladder stopped (0 when the first step missed).
	CapacityPerSec float64 `json:"capacity_per_sec"`
	// Stop says why the ladder ended (StopLatency, StopErrors or
	// StopMaxRate).
	Stop  string         `json:"stop"`
	Steps []CapacityStep `json:"steps"`
}

// CapacityStep is one step of a ladder: calls scheduled at OfferedPerSec,
// evenly spaced, for the step's time. Scheduled = Messages + Errors.
// Latency covers the successful calls, from their intended start.
// AchievedPerSec divides Messages by DurationSeconds, the time from the
// step's start to its last completion.
type CapacityStep struct {
	OfferedPerSec   float64 `json:"offered_per_sec"`
	AchievedPerSec  float64 `json:"achieved_per_sec"`
	DurationSeconds float64 `json:"duration_seconds"`
	Scheduled       uint64  `json:"scheduled"`
	Messages        uint64  `json:"messages"`
	Errors          uint64  `json:"errors"`
	Latency         Latency `json:"latency"`
	// Met is true when the step met the target (see Capacity.Meets).
	Met bool `json:"met"`
	// Attempts is how many times the step ran: one more after each miss,
	// up to Capacity.Attempts. The figures are those of the last attempt.
	Attempts int `json:"attempts"`
}

// Meets reports whether step s met the target: some calls succeeded, the
// p99 latency is at most the SLO, and errors are at most MaxErrorRate of
// the calls scheduled.
func (c *Capacity) Meets(s *CapacityStep) bool {
	return s.Latency.Count > 0 && s.Latency.P99Us <= c.SLOUs && !c.tooManyErrors(s)
}

// StopReason returns why a ladder stops at step s, which did not meet the
// target: StopErrors when its errors exceed the allowance, else
// StopLatency.
func (c *Capacity) StopReason(s *CapacityStep) string {
	if c.tooManyErrors(s) || s.Messages == 0 {
		return StopErrors
	}
	return StopLatency
}

func (c *Capacity) tooManyErrors(s *CapacityStep) bool {
	return float64(s.Errors) > c.MaxErrorRate*float64(s.Scheduled)
}

// Result returns the ladder of target, or nil.
func (c *Capacity) Result(target string) *CapacityResult {
	for i := range c.Results {
		if c.Results[i].Target == target {
			return &c.Results[i]
		}
	}
	return nil
}

// computeCapacityRatios appends to r.Ratios the capacity of every target
// against the baseline's.
func computeCapacityRatios(r *Results, base string) {
	if r.Capacity == nil {
		return
	}
	br := r.Capacity.Result(base)
	if br == nil {
		return
	}
	for _, cr := range r.Capacity.Results {
		if cr.Target != base {
			r.Ratios = append(r.Ratios, Ratio{Benchmark: CapacityID, Target: cr.Target, Baseline: base,
				Throughput: safeDiv(cr.CapacityPerSec, br.CapacityPerSec)})
		}
	}
}

// validateCapacity checks the capacity section against the configured
// kinds and targets, and every ladder against the rule that ends it.
func validateCapacity(r *Results, targets map[string]bool) error {
	want := slices.Contains(r.Config.Kinds, KindCapacity)
	c := r.Capacity
	if want != (c != nil) {
		return fmt.Errorf("config.kinds and the capacity section disagree (kind listed: %v)", want)
	}
	if c == nil {
		return nil
	}
	if c.Operation == "" || c.SLOUs <= 0 || c.StartPerSec <= 0 || c.Factor <= 1 || c.MaxPerSec < c.StartPerSec ||
		c.StepSeconds <= 0 || c.TimeoutSeconds <= 0 || c.Conns < 1 || c.Attempts < 1 || c.MaxErrorRate < 0 || c.MaxErrorRate > 1 {
		return fmt.Errorf("capacity settings out of range: %+v", *c)
	}
	if len(c.Results) == 0 {
		return errors.New("capacity: no results")
	}
	seen := map[string]bool{}
	for i := range c.Results {
		cr := &c.Results[i]
		if !targets[cr.Target] || seen[cr.Target] {
			return fmt.Errorf("capacity: target %q is unknown or repeated", cr.Target)
		}
		seen[cr.Target] = true
		if err := c.validateLadder(cr); err != nil {
			return fmt.Errorf("capacity of %q: %w", cr.Target, err)
		}
	}
	return nil
}

func (c *Capacity) validateLadder(cr *CapacityResult) error {
	n := len(cr.Steps)
	if n == 0 {
		return errors.New("no steps")
	}
	capacity := 0.0
	for i := range cr.Steps {
		s := &cr.Steps[i]
		l := s.Latency
		if err := nonNegative("capacity step", s.OfferedPerSec, s.AchievedPerSec, s.DurationSeconds, l.MeanUs, l.P50Us); err != nil {
			return err
		}
		switch {
		case s.OfferedPerSec <= 0 || s.DurationSeconds <= 0:
			return fmt.Errorf("step %d: offered rate and duration must be positive", i+1)
		case i > 0 && s.OfferedPerSec <= cr.Steps[i-1].OfferedPerSec:
			return fmt.Errorf("step %d: offered rate does not rise", i+1)
		case s.Messages+s.Errors != s.Scheduled || uint64(l.Count) != s.Messages:
			return fmt.Errorf("step %d: %d messages + %d errors != %d scheduled, or %d latencies", i+1, s.Messages, s.Errors, s.Scheduled, l.Count)
		case !(l.P50Us <= l.P90Us && l.P90Us <= l.P99Us && l.P99Us <= l.P999Us && l.P999Us <= l.MaxUs):
			return fmt.Errorf("step %d: latency percentiles not ordered: %+v", i+1, l)
		case s.Met != c.Meets(s):
			return fmt.Errorf("step %d: met is %v, the SLO rule says %v", i+1, s.Met, !s.Met)
		case s.Attempts < 1 || s.Attempts > c.Attempts || (!s.Met && s.Attempts != c.Attempts):
			return fmt.Errorf("step %d: %d attempts, %d allowed, met %v", i+1, s.Attempts, c.Attempts, s.Met)
		case !s.Met && i != n-1:
			return fmt.Errorf("step %d missed the target but the ladder went on", i+1)
		}
		if s.Met {
			capacity = s.OfferedPerSec
		}
	}
	last := &cr.Steps[n-1]
	stop := StopMaxRate
	if !last.Met {
		stop = c.StopReason(last)
	}
	if cr.Stop != stop || cr.CapacityPerSec != capacity {
		return fmt.Errorf("stop %q and capacity %v, the steps say %q and %v", cr.Stop, cr.CapacityPerSec, stop, capacity)
	}
	return nil
}
