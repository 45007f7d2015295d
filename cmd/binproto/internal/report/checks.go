package report

import (
	"errors"
	"fmt"
	"strings"
)

// The benchmark IDs of the shared-connection workloads: the checks and
// the tables of this package find them by these IDs.
const (
	// BenchSingle is one caller making sequential 1 KiB echoes over the
	// shared client: one caller's round trip.
	BenchSingle = "concurrent/1-caller-1KiB"
	// BenchConcurrent is 64 callers making 1 KiB echoes over one client
	// and one connection.
	BenchConcurrent = "concurrent/64-callers-1KiB"
	// BenchHOL is 16 fast callers and one caller whose every 100th call
	// is slow (its handler sleeps 10 ms), over one connection.
	BenchHOL = "hol/16-fast-1-slow"
	// BenchHOLNoSlow is BenchHOL without slow calls: the p99.9 the slow
	// calls are judged against.
	BenchHOLNoSlow = "hol/16-fast-no-slow"
)

// CheckTargets names the targets the checks relate; a check whose targets
// did not run the benchmarks it needs is left out.
type CheckTargets struct {
	// Native is the target held to the checks ("binproto-native").
	Native string `json:"native"`
	// Compat is the compatible profile it is compared with ("binproto").
	Compat string `json:"compat"`
	// Peer is the peer users would pick ("grpc").
	Peer string `json:"peer"`
}

// Check is one target of the shared-connection benchmarks, judged on a
// run: Value against Limit, at most (AtMost) or at least.
type Check struct {
	Name      string  `json:"name"`
	Benchmark string  `json:"benchmark"`
	Target    string  `json:"target"`
	Value     float64 `json:"value"`
	Limit     float64 `json:"limit"`
	AtMost    bool    `json:"at_most"`
	Pass      bool    `json:"pass"`
}

// judge sets Pass from Value, Limit and AtMost.
func (c *Check) judge() {
	if c.AtMost {
		c.Pass = c.Value <= c.Limit
	} else {
		c.Pass = c.Value >= c.Limit
	}
}

// ComputeChecks judges the targets of the shared-connection
// benchmarks on r, medians over rounds:
//
//   - concurrent: Native's calls/s ≥ 4× Peer's and ≥ 1.0× Compat's, and
//     ≤ 4 allocations per call on both sides together;
//   - hol: Native's fast calls held ≥ 5 ms ≤ 1 % of Compat's, and its
//     fast-call p99.9 ≤ 2× the same run without slow calls;
//   - one caller's round trip on Native ≤ 1.1× Compat's time.
//
// It returns the checks it could compute (nil when none) and a note naming
// those it could not.
func ComputeChecks(r *Results, t CheckTargets) ([]Check, string) {
	median := func(bench, target string, f func(*Summary) Stat) (float64, bool) {
		b := r.Benchmark(bench)
		if b == nil || target == "" {
			return 0, false
		}
		tr := b.Result(target)
		if tr == nil {
			return 0, false
		}
		return f(&tr.Summary).Median, true
	}
	rate := func(s *Summary) Stat { return s.MsgsPerSec }
	var checks []Check
	var missing []string
	add := func(name, bench string, limit float64, atMost bool, value float64, ok bool) {
		if !ok || value < 0 {
			missing = append(missing, name)
			return
		}
		c := Check{Name: name, Benchmark: bench, Target: t.Native, Value: value, Limit: limit, AtMost: atMost}
		c.judge()
		checks = append(checks, c)
	}
	ratio := func(bench string, a, b string, f func(*Summary) Stat) (float64, bool) {
		x, okx := median(bench, a, f)
		y, oky := median(bench, b, f)
		if !okx || !oky || y <= 0 {
			return 0, false
		}
		return x / y, true
	}
	v, ok := ratio(BenchConcurrent, t.Native, t.Peer, rate)
	add(fmt.Sprintf("concurrent: %s calls/s ≥ 4× %s's", t.Native, t.Peer), BenchConcurrent, 4, false, v, ok)
	v, ok = ratio(BenchConcurrent, t.Native, t.Compat, rate)
	add(fmt.Sprintf("concurrent: %s calls/s ≥ 1.0× %s's", t.Native, t.Compat), BenchConcurrent, 1, false, v, ok)
	v, ok = median(BenchConcurrent, t.Native, func(s *Summary) Stat { return s.AllocsPerMsg })
	add(fmt.Sprintf("concurrent: %s allocations per call (both sides) ≤ 4", t.Native), BenchConcurrent, 4, true, v, ok)
	v, ok = ratio(BenchHOL, t.Native, t.Compat, func(s *Summary) Stat { return s.Held })
	add(fmt.Sprintf("hol: %s fast calls held ≥ 5 ms ≤ 1%% of %s's", t.Native, t.Compat), BenchHOL, 0.01, true, v, ok)
	slow, okSlow := median(BenchHOL, t.Native, func(s *Summary) Stat { return s.P999Us })
	calm, okCalm := median(BenchHOLNoSlow, t.Native, func(s *Summary) Stat { return s.P999Us })
	add(fmt.Sprintf("hol: %s fast-call p99.9 ≤ 2× without slow calls", t.Native), BenchHOL, 2, true,
		safeDiv(slow, calm), okSlow && okCalm && calm > 0)
	// A round trip's time is the inverse of one sequential caller's rate.
	v, ok = ratio(BenchSingle, t.Compat, t.Native, rate)
	add(fmt.Sprintf("one caller: %s round trip ≤ 1.1× %s's time", t.Native, t.Compat), BenchSingle, 1.1, true, v, ok)
	note := ""
	if len(missing) > 0 && hasShared(r) {
		note = "Not checked (a target or benchmark it needs did not run): " + strings.Join(missing, "; ") + "."
	}
	return checks, note
}

// hasShared reports whether r holds a shared-connection benchmark.
func hasShared(r *Results) bool {
	for _, b := range r.Benchmarks {
		if IsShared(b.Kind) {
			return true
		}
	}
	return false
}

// validateChecks checks that every check refers to a benchmark of the run
// and is judged consistently.
func validateChecks(cs []Check, benchmarks map[string]bool) error {
	for _, c := range cs {
		if c.Name == "" || !benchmarks[c.Benchmark] {
			return fmt.Errorf("check %q refers to unknown benchmark %q", c.Name, c.Benchmark)
		}
		if err := nonNegative("check", c.Value, c.Limit); err != nil {
			return err
		}
		j := c
		j.judge()
		if j.Pass != c.Pass {
			return errors.New("check " + c.Name + ": pass does not match value and limit")
		}
	}
	return nil
}
