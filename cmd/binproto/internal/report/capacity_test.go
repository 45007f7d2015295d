package report

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// ladder builds a capacity ladder from start ×2 per step, whose p99 is
// perRate µs per call/s offered, stopped by the SLO rule of c.
func ladder(c *Capacity, target string, perRate float64) CapacityResult {
	cr := CapacityResult{Target: target, Stop: StopMaxRate}
	for rate := c.StartPerSec; rate <= c.MaxPerSec; rate *= c.Factor {
		p99 := rate * perRate
		n := uint64(rate * c.StepSeconds)
		s := CapacityStep{OfferedPerSec: rate, AchievedPerSec: rate * 0.99, DurationSeconds: c.StepSeconds, Scheduled: n, Messages: n,
			Latency:  Latency{Count: int64(n), MeanUs: p99 / 3, P50Us: p99 / 4, P90Us: p99 / 2, P99Us: p99, P999Us: 2 * p99, MaxUs: 3 * p99},
			Attempts: 1}
		s.Met = c.Meets(&s)
		if !s.Met {
			s.Attempts = c.Attempts
			cr.Steps = append(cr.Steps, s)
			cr.Stop = c.StopReason(&s)
			return cr
		}
		cr.Steps = append(cr.Steps, s)
		cr.CapacityPerSec = rate
	}
	return cr
}

// withCapacity adds a capacity run to r: "fast" reaches 4000/s at a 10 ms
// SLO, the baseline "http" 1000/s.
func withCapacity(r *Results) *Results {
	r.Config.Kinds = append(r.Config.Kinds, KindCapacity)
	c := &Capacity{Operation: "fixed/sensor-rr", SLOUs: 10000, StartPerSec: 250, Factor: 2, MaxPerSec: 64000,
		StepSeconds: 1, TimeoutSeconds: 1, Conns: 64, Attempts: 2}
	c.Results = []CapacityResult{ladder(c, "fast", 2), ladder(c, "http", 8)}
	r.Capacity = c
	ComputeRatios(r)
	return r
}

func TestCapacityLaddersAndRatio(t *testing.T) {
	r := withCapacity(sampleResults(1))
	if err := Validate(r); err != nil {
		t.Fatal(err)
	}
	fast, http := r.Capacity.Result("fast"), r.Capacity.Result("http")
	if fast.CapacityPerSec != 4000 || http.CapacityPerSec != 1000 || fast.Stop != StopLatency || len(fast.Steps) != 6 {
		t.Fatalf("ladders: fast %+v, http %+v", fast, http)
	}
	q := r.Ratios[len(r.Ratios)-1]
	if q.Benchmark != CapacityID || q.Target != "fast" || q.Baseline != "http" || q.Throughput != 4 || q.P99 != 0 {
		t.Fatalf("capacity ratio %+v", q)
	}
	data, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(data)
	if err != nil || !reflect.DeepEqual(got, r) {
		t.Fatalf("round trip: %v", err)
	}
}

func TestValidateRejectsBrokenCapacity(t *testing.T) {
	steps := func(r *Results) []CapacityStep { return r.Capacity.Results[0].Steps }
	cases := map[string]func(r *Results){
		"kind without section": func(r *Results) { r.Capacity = nil },
		"section without kind": func(r *Results) { r.Config.Kinds = r.Config.Kinds[:3] },
		"unknown target":       func(r *Results) { r.Capacity.Results[0].Target = "ghost" },
		"repeated target":      func(r *Results) { r.Capacity.Results[1].Target = "fast" },
		"no steps":             func(r *Results) { r.Capacity.Results[0].Steps = nil },
		"factor 1":             func(r *Results) { r.Capacity.Factor = 1 },
		"zero SLO":             func(r *Results) { r.Capacity.SLOUs = 0 },
		"wrong capacity":       func(r *Results) { r.Capacity.Results[0].CapacityPerSec = 8000 },
		"wrong stop":           func(r *Results) { r.Capacity.Results[0].Stop = StopMaxRate },
		"met above SLO":        func(r *Results) { s := steps(r); s[len(s)-1].Met = true },
		"missed then went on":  func(r *Results) { steps(r)[1].Met = false },
		"rates fall":           func(r *Results) { steps(r)[2].OfferedPerSec = 1 },
		"counts disagree":      func(r *Results) { steps(r)[0].Errors = 3 },
		"unordered latency":    func(r *Results) { steps(r)[0].Latency.P99Us = 1e9 },
		"negative rate":        func(r *Results) { steps(r)[0].AchievedPerSec = -1 },
		"too many attempts":    func(r *Results) { steps(r)[0].Attempts = 3 },
		"miss not retried":     func(r *Results) { s := steps(r); s[len(s)-1].Attempts = 1 },
		"ratio without run":    func(r *Results) { r.Capacity, r.Config.Kinds = nil, r.Config.Kinds[:3] },
	}
	for name, mutate := range cases {
		r := withCapacity(sampleResults(1))
		mutate(r)
		if err := Validate(r); err == nil {
			t.Errorf("%s: Validate accepted broken capacity results", name)
		}
	}
}

func TestCapacityPlotTablesAndReport(t *testing.T) {
	r := withCapacity(sampleResults(1))
	dir := t.TempDir()
	files, err := WriteFiles(dir, r, true)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{ResultsFile, PlotThroughput, PlotLatency, PlotScalingMsg, PlotScalingMB, PlotClients, PlotCapacity, PlotCPU, PlotRSS, ReportFile}
	if !reflect.DeepEqual(files, want) {
		t.Fatalf("files %v, want %v", files, want)
	}
	checkPNG(t, filepath.Join(dir, PlotCapacity))
	md, err := os.ReadFile(filepath.Join(dir, ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Capacity at p99 ≤ 10.00ms", "](capacity.png)", "| capacity | fast / http | 4.00× |",
		"| fast | 4000 | p99_above_slo | 6 | 4.00× |"} {
		if !strings.Contains(string(md), s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	var b strings.Builder
	WriteConsole(&b, r)
	for _, s := range []string{"Capacity at p99 <= 10.00ms", "OFFERED/S", "8000", "p99_above_slo", "no (attempt 2)"} {
		if !strings.Contains(b.String(), s) {
			t.Errorf("console output lacks %q", s)
		}
	}
}

func TestCapacityOnlyRun(t *testing.T) {
	// Only the capacity mode ran: no benchmarks, no empty tables.
	r := withCapacity(sampleResults(1))
	r.Config.Kinds = []string{KindCapacity}
	r.Benchmarks = []Benchmark{}
	ComputeRatios(r)
	if err := Validate(r); err != nil {
		t.Fatal(err)
	}
	files, err := WritePlots(t.TempDir(), r)
	if err != nil || !reflect.DeepEqual(files, []string{PlotCapacity, PlotCPU, PlotRSS}) {
		t.Fatalf("plots %v, %v", files, err)
	}
	var md, console strings.Builder
	WriteMarkdown(&md, r, files)
	WriteConsole(&console, r)
	if strings.Contains(md.String(), "## Throughput and latency") || strings.Contains(console.String(), "Throughput and latency") {
		t.Error("empty benchmark tables written")
	}
	if !strings.Contains(md.String(), "| capacity | fast / http | 4.00× |") {
		t.Errorf("report.md lacks the capacity ratio:\n%s", md.String())
	}
}
