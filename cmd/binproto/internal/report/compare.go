package report

import (
	"fmt"
	"time"
)

// DefaultThresholdPct is the change, in percent, beyond which a worse
// figure is flagged as a regression.
const DefaultThresholdPct = 10

// Metric names used in Change.Metric.
const (
	MetricThroughput = "msgs_per_sec"
	MetricP99        = "p99_us"
)

// Comparison is the change of a run against a previous run.
type Comparison struct {
	Previous          string    `json:"previous"`
	PreviousStartedAt time.Time `json:"previous_started_at"`
	ThresholdPct      float64   `json:"threshold_pct"`
	Changes           []Change  `json:"changes"`
	Regressions       int       `json:"regressions"`
	// Unmatched lists "benchmark target" pairs present in only one run.
	Unmatched []string `json:"unmatched"`
}

// Change is the change of one figure (median over rounds) of one target on
// one benchmark. ChangePct is (current-previous)/previous in percent.
// Regression is true when the figure got worse by more than the threshold:
// lower throughput, or higher p99 latency.
type Change struct {
	Benchmark  string  `json:"benchmark"`
	Target     string  `json:"target"`
	Metric     string  `json:"metric"`
	Previous   float64 `json:"previous"`
	Current    float64 `json:"current"`
	ChangePct  float64 `json:"change_pct"`
	Regression bool    `json:"regression"`
}

// Compare compares cur against prev (read from prevPath) and flags
// regressions beyond thresholdPct percent.
func Compare(prev, cur *Results, prevPath string, thresholdPct float64) *Comparison {
	c := &Comparison{
		Previous:          prevPath,
		PreviousStartedAt: prev.StartedAt,
		ThresholdPct:      thresholdPct,
		Changes:           []Change{},
		Unmatched:         []string{},
	}
	for _, b := range cur.Benchmarks {
		pb := prev.Benchmark(b.ID)
		for _, tr := range b.Results {
			var ptr *TargetResult
			if pb != nil {
				ptr = pb.Result(tr.Target)
			}
			if ptr == nil {
				c.Unmatched = append(c.Unmatched, fmt.Sprintf("%s %s (new)", b.ID, tr.Target))
				continue
			}
			c.add(b.ID, tr.Target, MetricThroughput, ptr.Summary.MsgsPerSec.Median, tr.Summary.MsgsPerSec.Median, false)
			if hasLatency(ptr) && hasLatency(&tr) {
				c.add(b.ID, tr.Target, MetricP99, ptr.Summary.P99Us.Median, tr.Summary.P99Us.Median, true)
			}
		}
	}
	for _, pb := range prev.Benchmarks {
		b := cur.Benchmark(pb.ID)
		for _, ptr := range pb.Results {
			if b == nil || b.Result(ptr.Target) == nil {
				c.Unmatched = append(c.Unmatched, fmt.Sprintf("%s %s (gone)", pb.ID, ptr.Target))
			}
		}
	}
	return c
}

func (c *Comparison) add(bench, target, metric string, prev, cur float64, lowerIsBetter bool) {
	ch := Change{Benchmark: bench, Target: target, Metric: metric, Previous: prev, Current: cur}
	if prev > 0 {
		ch.ChangePct = (cur - prev) / prev * 100
		worse := -ch.ChangePct
		if lowerIsBetter {
			worse = ch.ChangePct
		}
		ch.Regression = worse > c.ThresholdPct
	} else if cur > 0 && lowerIsBetter {
		ch.Regression = true
	}
	if ch.Regression {
		c.Regressions++
	}
	c.Changes = append(c.Changes, ch)
}

func hasLatency(tr *TargetResult) bool {
	for _, r := range tr.Rounds {
		if r.Latency.Count > 0 {
			return true
		}
	}
	return false
}

// ComputeRatios fills r.Ratios: every non-baseline target against the
// baseline on every benchmark both ran, and on capacity (CapacityID).
func ComputeRatios(r *Results) {
	r.Ratios = []Ratio{}
	base := r.BaselineName()
	if base == "" {
		return
	}
	for _, b := range r.Benchmarks {
		br := b.Result(base)
		if br == nil {
			continue
		}
		for _, tr := range b.Results {
			if tr.Target == base {
				continue
			}
			r.Ratios = append(r.Ratios, Ratio{
				Benchmark:  b.ID,
				Target:     tr.Target,
				Baseline:   base,
				Throughput: safeDiv(tr.Summary.MsgsPerSec.Median, br.Summary.MsgsPerSec.Median),
				P99:        safeDiv(tr.Summary.P99Us.Median, br.Summary.P99Us.Median),
				WireBytes:  safeDiv(tr.Summary.WireBytesPerMsg.Median, br.Summary.WireBytesPerMsg.Median),
			})
		}
	}
	computeCapacityRatios(r, base)
}

func safeDiv(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
