package bench

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// Latency histogram range: 100 ns to 60 s, 3 significant digits.
const (
	histLowest  = 100
	histHighest = int64(60 * time.Second)
	histSigFigs = 3
)

// recorder is a latency histogram safe for concurrent use.
type recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newRecorder() *recorder {
	return &recorder{h: hdrhistogram.New(histLowest, histHighest, histSigFigs)}
}

// record adds one latency, clamped to the histogram's range.
func (r *recorder) record(d time.Duration) {
	v := min(max(int64(d), histLowest), histHighest)
	r.mu.Lock()
	_ = r.h.RecordValue(v) // cannot fail: v is within range
	r.mu.Unlock()
}

// merge adds every latency of o to r.
func (r *recorder) merge(o *recorder) {
	o.mu.Lock()
	defer o.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.h.Merge(o.h) // both ranges are the same: nothing is dropped
}

// latency returns the percentiles recorded so far, in microseconds.
func (r *recorder) latency() report.Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.h.TotalCount() == 0 {
		return report.Latency{}
	}
	us := func(ns int64) float64 { return float64(ns) / 1e3 }
	p := r.h.ValueAtPercentiles([]float64{50, 90, 99, 99.9})
	return report.Latency{
		Count:  r.h.TotalCount(),
		MeanUs: r.h.Mean() / 1e3,
		P50Us:  us(p[50]),
		P90Us:  us(p[90]),
		P99Us:  us(p[99]),
		P999Us: us(p[99.9]),
		MaxUs:  us(r.h.Max()),
	}
}

// summarize returns the spread of vs. The standard deviation is the sample
// one (n-1); it is 0 for fewer than two values.
func summarize(vs []float64) report.Stat {
	n := len(vs)
	if n == 0 {
		return report.Stat{}
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	st := report.Stat{N: n, Min: s[0], Max: s[n-1], Median: median(s)}
	for _, v := range s {
		st.Mean += v
	}
	st.Mean /= float64(n)
	if n > 1 {
		var ss float64
		for _, v := range s {
			ss += (v - st.Mean) * (v - st.Mean)
		}
		st.Stddev = math.Sqrt(ss / float64(n-1))
	}
	return st
}

// median of a sorted, non-empty slice.
func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

// jain returns Jain's fairness index (Σx)²/(n·Σx²): 1 when every value is
// equal, 1/n when a single value is non-zero; 0 for no or all-zero values.
func jain(vs []float64) float64 {
	var sum, sq float64
	for _, v := range vs {
		sum += v
		sq += v * v
	}
	if sq == 0 {
		return 0
	}
	return min(1, sum*sum/(float64(len(vs))*sq))
}

// fairness summarises per-client throughputs.
func fairness(perClient []float64) report.Fairness {
	if len(perClient) == 0 {
		return report.Fairness{}
	}
	st := summarize(perClient)
	return report.Fairness{
		MinMsgsPerSec:    st.Min,
		MedianMsgsPerSec: st.Median,
		MaxMsgsPerSec:    st.Max,
		Jain:             jain(perClient),
	}
}

// summary computes the spread over rounds of the compared figures; shared
// adds those of the shared-connection benchmarks.
func summary(rounds []report.RoundResult, shared bool) report.Summary {
	pick := func(f func(*report.RoundResult) float64) report.Stat {
		vs := make([]float64, len(rounds))
		for i := range rounds {
			vs[i] = f(&rounds[i])
		}
		return summarize(vs)
	}
	s := report.Summary{
		MsgsPerSec:      pick(func(r *report.RoundResult) float64 { return r.MsgsPerSec }),
		MBPerSec:        pick(func(r *report.RoundResult) float64 { return r.MBPerSec }),
		P50Us:           pick(func(r *report.RoundResult) float64 { return r.Latency.P50Us }),
		P90Us:           pick(func(r *report.RoundResult) float64 { return r.Latency.P90Us }),
		P99Us:           pick(func(r *report.RoundResult) float64 { return r.Latency.P99Us }),
		P999Us:          pick(func(r *report.RoundResult) float64 { return r.Latency.P999Us }),
		MaxUs:           pick(func(r *report.RoundResult) float64 { return r.Latency.MaxUs }),
		Errors:          pick(func(r *report.RoundResult) float64 { return float64(r.Errors) }),
		WireBytesPerMsg: pick(func(r *report.RoundResult) float64 { return r.WireBytesPerMsg }),
		AllocsPerMsg:    pick(func(r *report.RoundResult) float64 { return r.AllocsPerMsg }),
		CPUPercent:      pick(func(r *report.RoundResult) float64 { return r.CPUPercent }),
		RSSMaxMB:        pick(func(r *report.RoundResult) float64 { return float64(r.RSSMaxBytes) / 1e6 }),
		GCPauseTotalMs:  pick(func(r *report.RoundResult) float64 { return r.GC.PauseTotalMs }),
		Jain:            pick(func(r *report.RoundResult) float64 { return r.Fairness.Jain }),
	}
	if shared {
		s.Held = pick(func(r *report.RoundResult) float64 { return float64(r.Held) })
		s.SlowCalls = pick(func(r *report.RoundResult) float64 { return float64(r.SlowCalls) })
		s.HeldPerSlow = pick(func(r *report.RoundResult) float64 {
			if r.SlowCalls == 0 {
				return 0
			}
			return float64(r.Held) / float64(r.SlowCalls)
		})
	}
	return s
}
