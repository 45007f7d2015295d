package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// checkCapacity asserts a capacity run of the quick schedule (at most
// maxSteps steps) on every target in order. Whether a step met the SLO
// depends on this machine's load, so only the structure is checked; the
// validator has checked that each ladder obeys its stopping rule.
func checkCapacity(t *testing.T, res *report.Results, maxSteps int, targets ...string) {
	t.Helper()
	c := res.Capacity
	if c == nil {
		t.Fatal("no capacity results")
	}
	if c.SLOUs != 10000 || c.StartPerSec != 500 || c.Factor != 2 || c.StepSeconds != 0.1 || c.Conns != 4 || c.Attempts != 1 {
		t.Errorf("capacity settings %+v do not follow the flags", *c)
	}
	if len(c.Results) != len(targets) {
		t.Fatalf("%d capacity results, want %v", len(c.Results), targets)
	}
	for i, cr := range c.Results {
		if cr.Target != targets[i] || len(cr.Steps) == 0 || len(cr.Steps) > maxSteps || cr.Steps[0].OfferedPerSec != 500 {
			t.Errorf("capacity of %s: %+v", targets[i], cr)
		}
		if s := cr.Steps[0]; s.Scheduled != 50 || s.Latency.Count == 0 && s.Errors == 0 {
			t.Errorf("%s: first step %+v, want 50 calls scheduled", cr.Target, s)
		}
	}
}

func TestBenchCapacityOnly(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--capacity", "--slo", "10ms")
	if len(res.Benchmarks) != 0 || len(res.Config.Kinds) != 1 || res.Config.Kinds[0] != report.KindCapacity {
		t.Fatalf("kinds %v, %d benchmarks", res.Config.Kinds, len(res.Benchmarks))
	}
	checkCapacity(t, res, 2, "binproto", "binproto-native", "http")
	checkPNG(t, filepath.Join(out, report.PlotCapacity))
	if q := res.Ratios; len(q) != 2 || q[0].Benchmark != report.CapacityID || q[0].Target != "binproto" || q[1].Target != "binproto-native" {
		t.Errorf("ratios %+v, want the capacity ratios alone, one per binproto profile", q)
	}
	md := readFile(t, filepath.Join(out, report.ReportFile))
	for _, s := range []string{"## Capacity at p99 ≤ 10.00ms", "](capacity.png)", "| capacity | binproto / http |"} {
		if !strings.Contains(md, s) {
			t.Errorf("report.md lacks %q", s)
		}
	}
	for _, s := range []string{"capacity  binproto   offered      500/s", "Capacity at p99 <= 10.00ms"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
}

func TestCapacityFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--capacity", "--capacity-factor", "1"},
		{"--capacity", "--slo", "2s"}, // not below the 1s timeout
		{"--capacity", "--capacity-conns", "-1"},
		{"--capacity", "--capacity-errors", "1.5"},
	} {
		code, _, stderr := runCLI(t, benchTimeout, benchArgs(t.TempDir(), args...)...)
		if code != exitUsage || !strings.Contains(stderr, "capacity") {
			t.Errorf("%v: exit %d, stderr %s", args, code, stderr)
		}
	}
}

func TestCapacityFlagsKeepTheQuickSchedule(t *testing.T) {
	parse := func(args ...string) capacityFlags {
		var cf capacityFlags
		fs := pflag.NewFlagSet("bench", pflag.ContinueOnError)
		cf.add(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return cf
	}
	// --all: the quick schedule, unless step or factor is given.
	cf := parse()
	c := bench.QuickCapacity()
	cf.apply(&c)
	if d := bench.DefaultCapacity(); c.Step != time.Second || c.Factor != 1.5 || c.SLO != d.SLO || c.StartRate != d.StartRate ||
		c.MaxRate != d.MaxRate || c.Conns != d.Conns || c.Timeout != d.Timeout || c.Attempts != d.Attempts || c.MaxErrorRate != 0 {
		t.Errorf("--all schedule %+v", c)
	}
	cf = parse("--capacity-step", "3s", "--slo", "5ms", "--capacity-attempts", "1")
	c = bench.QuickCapacity()
	cf.apply(&c)
	if c.Step != 3*time.Second || c.Factor != 1.5 || c.SLO != 5*time.Millisecond || c.Attempts != 1 {
		t.Errorf("--all with flags: %+v", c)
	}
	// --capacity alone: the full schedule.
	c = bench.CapacityOptions{}
	cf = parse()
	cf.apply(&c)
	if c.Step != 0 || c.Factor != 0 || c.SLO != bench.DefaultSLO || c.Conns != bench.DefaultCapacity().Conns {
		t.Errorf("--capacity schedule %+v", c)
	}
}
