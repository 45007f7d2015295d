package report

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

// sharedResults is a run of the shared-connection benchmarks on three
// targets, without a baseline: native, compat and peer.
func sharedResults() *Results {
	r := sampleResults(1)
	r.Config.Kinds = []string{KindConcurrent, KindHOL}
	r.Config.SharedDurationSeconds = 0.3
	r.Config.Baseline = ""
	r.Targets = []TargetInfo{{Name: "native", Addr: "127.0.0.1:1"}, {Name: "compat", Addr: "127.0.0.1:2"}, {Name: "peer", Addr: "127.0.0.1:3"}}
	r.Benchmarks = nil
	add := func(id, kind string, callers int, fs map[string]float64) *Benchmark {
		b := Benchmark{ID: id, Kind: kind, Mode: ModeRequestResponse, PayloadBytes: 1024, Clients: callers}
		for _, name := range []string{"native", "compat", "peer"} {
			if f, ok := fs[name]; ok {
				b.Results = append(b.Results, targetResult(name, f, true, false))
			}
		}
		r.Benchmarks = append(r.Benchmarks, b)
		return &r.Benchmarks[len(r.Benchmarks)-1]
	}
	add(BenchSingle, KindConcurrent, 1, map[string]float64{"native": 1, "compat": 1.05, "peer": 0.5})
	add(BenchConcurrent, KindConcurrent, 64, map[string]float64{"native": 8, "compat": 2, "peer": 1})
	hol := add(BenchHOL, KindHOL, 17, map[string]float64{"native": 1, "compat": 1, "peer": 1})
	add(BenchHOLNoSlow, KindHOL, 17, map[string]float64{"native": 4, "compat": 1, "peer": 1})
	// The slow calls: 10 per round; compat holds 16 fast calls per slow
	// one, native one in all, peer 3 per slow call.
	for i, held := range map[string]uint64{"native": 1, "compat": 160, "peer": 30} {
		tr := hol.Result(i)
		for k := range tr.Rounds {
			tr.Rounds[k].SlowCalls, tr.Rounds[k].Held = 10, held
		}
		h, n := float64(held), float64(len(tr.Rounds))
		tr.Summary.Held = Stat{N: int(n), Median: h, Min: h, Max: h, Mean: h}
		tr.Summary.SlowCalls = Stat{N: int(n), Median: 10, Min: 10, Max: 10, Mean: 10}
		tr.Summary.HeldPerSlow = Stat{N: int(n), Median: h / 10, Min: h / 10, Max: h / 10, Mean: h / 10}
	}
	r.Ratios = []Ratio{}
	r.Checks, _ = ComputeChecks(r, CheckTargets{Native: "native", Compat: "compat", Peer: "peer"})
	return r
}

func TestComputeChecks(t *testing.T) {
	r := sharedResults()
	// Medians over the two rounds (f and 1.05 f) of targetResult.
	want := []struct {
		bench string
		value float64
		pass  bool
	}{
		{BenchConcurrent, 8, true},                      // native/peer calls/s, ≥ 4
		{BenchConcurrent, 4, true},                      // native/compat calls/s, ≥ 1
		{BenchConcurrent, (50.0/8 + 50/8.4) / 2, false}, // allocations per call, ≤ 4
		{BenchHOL, 1.0 / 160, true},                     // held, native/compat, ≤ 1 %
		{BenchHOL, 4, false},                            // p99.9 against no slow calls, ≤ 2
		{BenchSingle, 1.05, true},                       // round trip time, compat/native rate, ≤ 1.1
	}
	if len(r.Checks) != len(want) {
		t.Fatalf("%d checks, want %d: %+v", len(r.Checks), len(want), r.Checks)
	}
	for i, w := range want {
		c := r.Checks[i]
		if c.Benchmark != w.bench || math.Abs(c.Value-w.value) > 1e-6*w.value || c.Pass != w.pass || c.Target != "native" {
			t.Errorf("check %d %q: %s value %v pass %v, want %s %v %v", i, c.Name, c.Benchmark, c.Value, c.Pass, w.bench, w.value, w.pass)
		}
	}
	roundTrip(t, r)
}

// TestComputeChecksWithoutNative: no check is computable without the
// native target; the note names them all.
func TestComputeChecksWithoutNative(t *testing.T) {
	r := sharedResults()
	checks, note := ComputeChecks(r, CheckTargets{Native: "binproto-native", Compat: "compat", Peer: "peer"})
	if checks != nil || strings.Count(note, ";") != 5 || !strings.Contains(note, "binproto-native calls/s ≥ 4× peer's") {
		t.Fatalf("checks %v, note %q", checks, note)
	}
	// No shared benchmark: no note either.
	if checks, note := ComputeChecks(sampleResults(1), CheckTargets{Native: "fast"}); checks != nil || note != "" {
		t.Fatalf("classic run: checks %v, note %q", checks, note)
	}
}

func TestValidateRejectsBrokenChecks(t *testing.T) {
	cases := map[string]func(r *Results){
		"pass flipped":      func(r *Results) { r.Checks[0].Pass = !r.Checks[0].Pass },
		"unknown benchmark": func(r *Results) { r.Checks[0].Benchmark = "ghost" },
		"negative value":    func(r *Results) { r.Checks[0].Value = -1 },
		"held beyond calls": func(r *Results) { r.Benchmark(BenchHOL).Results[0].Rounds[0].Held = 1e9 },
		"no shared time":    func(r *Results) { r.Config.SharedDurationSeconds = 0 },
	}
	for name, breakIt := range cases {
		r := sharedResults()
		breakIt(r)
		if err := Validate(r); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// TestSharedTables: the console and Markdown reports hold the concurrent
// and hol tables and the judged checks.
func TestSharedTables(t *testing.T) {
	r := sharedResults()
	var console, md bytes.Buffer
	WriteConsole(&console, r)
	WriteMarkdown(&md, r, nil)
	for _, s := range []string{"Callers sharing one client", "Head-of-line blocking", "HELD ≥ 5 MS", "16.0", "4.00×", "FAIL", "PASS"} {
		if !strings.Contains(console.String(), s) {
			t.Errorf("console lacks %q:\n%s", s, console.String())
		}
	}
	for _, s := range []string{"## Head-of-line blocking", "| compat |", "**FAIL**", "native fast-call p99.9 ≤ 2× without slow calls"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("report.md lacks %q:\n%s", s, md.String())
		}
	}
	var classic bytes.Buffer
	WriteConsole(&classic, sampleResults(1))
	if strings.Contains(classic.String(), "Head-of-line") {
		t.Error("a run without shared benchmarks has their tables")
	}
}
