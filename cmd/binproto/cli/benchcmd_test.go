package cli

import (
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// benchTimeout bounds one short bench run; the runs below take a few
// seconds even under the race detector.
const benchTimeout = 60 * time.Second

// quick are flags that keep a bench run short: 150 ms per phase, and a
// capacity ladder of at most two 100 ms steps per target.
var quick = []string{"--duration", "150ms", "--warmup", "0", "--rounds", "1", "--clients", "8",
	"--ramp", "50ms", "--think", "5ms", "--sizes", "16,4096", "--progress", "lines", "--shared-duration", "100ms",
	"--capacity-start", "500", "--capacity-factor", "2", "--capacity-max", "1000", "--capacity-step", "100ms",
	"--capacity-conns", "4", "--capacity-attempts", "1"}

func benchArgs(out string, extra ...string) []string {
	return append(append([]string{"bench", "--out", out}, quick...), extra...)
}

// quickBench runs a quick bench that must succeed and returns its stdout and
// the validated results.json.
func quickBench(t *testing.T, out string, extra ...string) (string, *report.Results) {
	t.Helper()
	return quickBenchWith(t, defaultWiring(), out, extra...)
}

// quickBenchWith is quickBench measuring the targets of w.
func quickBenchWith(t *testing.T, w wiring, out string, extra ...string) (string, *report.Results) {
	t.Helper()
	code, stdout, stderr := runWith(t, w, benchTimeout, benchArgs(out, extra...)...)
	if code != exitOK {
		t.Fatalf("bench %v: exit %d\nstdout:\n%s\nstderr:\n%s", extra, code, stdout, stderr)
	}
	res, err := report.Load(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatalf("results.json does not validate: %v", err)
	}
	return stdout, res
}

// Benchmark IDs of the quick runs.
var (
	fixedIDs     = []string{"fixed/sensor-rr", "fixed/sensor-stream"}
	variableIDs  = []string{"variable/echo-rr/16", "variable/stream/16", "variable/echo-rr/4096", "variable/stream/4096"}
	realisticIDs = []string{"realistic/mixed"}
	sharedIDs    = []string{report.BenchSingle, report.BenchConcurrent, report.BenchHOL, report.BenchHOLNoSlow}
)

// sharers are the targets of the default wiring that can share one
// connection: the only ones that run the shared-connection benchmarks.
var sharers = []string{"binproto", "binproto-native", "grpc"}

// runsOn reports whether the benchmark b of res ran on target name.
func runsOn(res *report.Results, b *report.Benchmark, name string) bool {
	if report.IsShared(b.Kind) {
		return slices.Contains(sharers, name)
	}
	return !slices.Contains(res.Config.SharedOnly, name)
}

// checkBenchmarks asserts that res holds exactly the benchmarks ids, each
// with a healthy result of every target in targets that runs it.
func checkBenchmarks(t *testing.T, res *report.Results, targets []string, ids ...[]string) {
	t.Helper()
	want := slices.Concat(ids...)
	var got []string
	for _, b := range res.Benchmarks {
		got = append(got, b.ID)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("benchmarks %v, want %v", got, want)
	}
	if names := res.TargetNames(); !slices.Equal(names, targets) {
		t.Fatalf("targets %v, want %v", names, targets)
	}
	for _, b := range res.Benchmarks {
		runs := slices.DeleteFunc(slices.Clone(targets), func(name string) bool { return !runsOn(res, &b, name) })
		if len(b.Results) != len(runs) {
			t.Errorf("%s: %d results, want one per target %v", b.ID, len(b.Results), runs)
		}
		for _, name := range runs {
			tr := b.Result(name)
			if tr == nil {
				t.Errorf("%s: no result for %s", b.ID, name)
				continue
			}
			if tr.Summary.MsgsPerSec.Median <= 0 {
				t.Errorf("%s on %s: median msgs/s %v", b.ID, name, tr.Summary.MsgsPerSec.Median)
			}
			for _, rr := range tr.Rounds {
				if rr.MsgsPerSec <= 0 || rr.Messages == 0 || rr.Errors != 0 || rr.Lost != 0 {
					t.Errorf("%s on %s round %d: %.0f msgs/s, %d messages, %d errors, %d lost",
						b.ID, name, rr.Round, rr.MsgsPerSec, rr.Messages, rr.Errors, rr.Lost)
				}
				if timed := b.Mode != report.ModeStream; timed != (rr.Latency.Count > 0) {
					t.Errorf("%s on %s: %d latencies in mode %s", b.ID, name, rr.Latency.Count, b.Mode)
				}
			}
		}
	}
	for _, n := range res.Notes {
		if strings.Contains(n, "errors, first:") || strings.Contains(n, "not available") {
			t.Errorf("unexpected note: %s", n)
		}
	}
}

// checkRatios asserts a binproto/http ratio for every benchmark http ran,
// in results.json and in report.md.
func checkRatios(t *testing.T, res *report.Results, md string) {
	t.Helper()
	// One ratio per candidate (each binproto profile) of every benchmark
	// the http baseline ran, in benchmark order.
	candidates := []string{"binproto", "binproto-native"}
	var want []report.Ratio
	var modes []string
	for _, b := range res.Benchmarks {
		if b.Result("http") == nil {
			continue
		}
		for _, c := range candidates {
			if b.Result(c) != nil {
				want = append(want, report.Ratio{Benchmark: b.ID, Target: c})
				modes = append(modes, b.Mode)
			}
		}
	}
	// The capacity ratios (one per candidate that climbed the ladder) come
	// last.
	ratios := res.Ratios
	if res.Capacity != nil {
		var capacity []report.Ratio
		for len(ratios) > 0 && ratios[len(ratios)-1].Benchmark == report.CapacityID {
			capacity = append(capacity, ratios[len(ratios)-1])
			ratios = ratios[:len(ratios)-1]
		}
		if len(capacity) != len(candidates) {
			t.Errorf("capacity ratios %+v, want one per candidate", capacity)
		}
	}
	if len(ratios) != len(want) {
		t.Fatalf("%d ratios, want %d (one per candidate and benchmark with the baseline)", len(ratios), len(want))
	}
	for i, q := range ratios {
		w := want[i]
		if q.Benchmark != w.Benchmark || q.Target != w.Target || q.Baseline != "http" || q.Throughput <= 0 || q.WireBytes <= 0 {
			t.Errorf("ratio %+v, want %s on %s", q, w.Target, w.Benchmark)
		}
		if timed := modes[i] != report.ModeStream; timed != (q.P99 > 0) {
			t.Errorf("ratio %+v: p99 ratio for mode %s", q, modes[i])
		}
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(w.Benchmark) + ` +\| ` + regexp.QuoteMeta(w.Target) + ` / http +\| [0-9.]+× `)
		if !row.MatchString(md) {
			t.Errorf("report.md has no %s / http ratio row for %s", w.Target, w.Benchmark)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestBenchAll is the one test that draws the plots.
func TestBenchAll(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--all")
	for _, s := range []string{"Benchmarking binproto, binproto-native, http (baseline) and grpc (concurrent and hol only): fixed, variable, realistic, concurrent, hol, capacity, 1 round(s) of 150ms",
		"Head-of-line blocking",
		"binproto / http", "Wrote 10 files to " + out, "Report: " + filepath.Join(out, "report.md")} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	if res.SchemaVersion != 1 || res.BaselineName() != "http" || res.Config.Baseline != "http" {
		t.Fatalf("results: version %d, baseline %q", res.SchemaVersion, res.BaselineName())
	}
	checkBenchmarks(t, res, []string{"binproto", "binproto-native", "http", "grpc"}, fixedIDs, variableIDs, realisticIDs, sharedIDs)
	// Every target the checks relate ran, so they are judged; in a
	// run this short the compatible profile may have no fast call held
	// 5 ms, which leaves the held-calls ratio undefined (and noted).
	if len(res.Checks) < 5 {
		t.Errorf("checks %+v, notes %v: want them judged", res.Checks, res.Notes)
	}
	for _, c := range res.Checks {
		if c.Target != "binproto-native" {
			t.Errorf("check %+v is not of binproto-native", c)
		}
	}
	if !slices.Equal(res.Config.SharedOnly, []string{"grpc"}) || res.Config.SharedDurationSeconds != 0.1 {
		t.Errorf("shared only %v, shared duration %v", res.Config.SharedOnly, res.Config.SharedDurationSeconds)
	}
	for _, ti := range res.Targets {
		if !ti.Embedded || !strings.HasPrefix(ti.Addr, "127.0.0.1:") || ti.Baseline != (ti.Name == "http") {
			t.Errorf("target %+v: want embedded on 127.0.0.1, http the baseline", ti)
		}
	}
	md := readFile(t, filepath.Join(out, report.ReportFile))
	checkRatios(t, res, md)

	checkCapacity(t, res, 2, "binproto", "binproto-native", "http")
	plots := []string{report.PlotThroughput, report.PlotLatency, report.PlotScalingMsg, report.PlotScalingMB,
		report.PlotClients, report.PlotCapacity, report.PlotCPU, report.PlotRSS}
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(pngs) != len(plots) {
		t.Fatalf("%d PNG files, want %d: %v", len(pngs), len(plots), pngs)
	}
	for _, p := range plots {
		checkPNG(t, filepath.Join(out, p))
		if !strings.Contains(md, "]("+p+")") {
			t.Errorf("report.md does not embed %s", p)
		}
	}
}

func TestBenchCompareFlagsRegression(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, first := quickBench(t, filepath.Join(dir, "first"), "--fixed", "--plots=false")
	checkBenchmarks(t, first, []string{"binproto", "binproto-native", "http"}, fixedIDs)
	checkRatios(t, first, readFile(t, filepath.Join(dir, "first", report.ReportFile)))

	// The previous run had a binproto ten times faster than this machine
	// can manage: every binproto throughput must regress against it.
	for bi := range first.Benchmarks {
		first.Benchmarks[bi].Result("binproto").Summary.MsgsPerSec.Median *= 10
	}
	data, err := first.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	prevPath := filepath.Join(dir, "prev.json")
	if err := os.WriteFile(prevPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "second")
	stdout, res := quickBench(t, out, "--fixed", "--plots=false", "--compare", prevPath)
	if !strings.Contains(stdout, "REGRESSION") {
		t.Fatalf("no regression flagged:\n%s", stdout)
	}
	c := res.Comparison
	if c == nil || c.Previous != prevPath || len(c.Unmatched) != 0 {
		t.Fatalf("comparison in results.json: %+v", c)
	}
	flagged := map[string]bool{}
	for _, ch := range c.Changes {
		if ch.Target == "binproto" && ch.Metric == report.MetricThroughput {
			if !ch.Regression {
				t.Errorf("planted regression not flagged: %+v", ch)
			}
			flagged[ch.Benchmark] = true
		}
	}
	if len(flagged) != len(fixedIDs) || c.Regressions < len(fixedIDs) {
		t.Fatalf("binproto throughput flagged on %v, %d regressions in all", flagged, c.Regressions)
	}
	if md := readFile(t, filepath.Join(out, report.ReportFile)); !strings.Contains(md, "**REGRESSION**") {
		t.Fatal("report.md does not flag the regression")
	}

	// --fail-on-regression turns the flag into exit code 1, after writing
	// the results.
	out = filepath.Join(dir, "third")
	code, stdout, stderr := runCLI(t, benchTimeout, benchArgs(out, "--fixed", "--plots=false", "--baseline", "none",
		"--compare", prevPath, "--fail-on-regression")...)
	if code != exitError || !strings.Contains(stderr, "regression(s) against "+prevPath) {
		t.Fatalf("--fail-on-regression: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	third, err := report.Load(filepath.Join(out, report.ResultsFile))
	if err != nil || third.Comparison == nil || third.Comparison.Regressions < len(fixedIDs) {
		t.Fatalf("results of the failing run: %v, %+v", err, third)
	}
}

func TestBenchBaselineNone(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--fixed", "--realistic", "--baseline", "none", "--plots=false")
	if !strings.Contains(stdout, "Benchmarking binproto and binproto-native: fixed, realistic") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"binproto", "binproto-native"}, fixedIDs, realisticIDs)
	if res.BaselineName() != "" || res.Config.Baseline != "" || len(res.Ratios) != 0 {
		t.Fatalf("baseline %q / %q, ratios %v", res.BaselineName(), res.Config.Baseline, res.Ratios)
	}
	if md := readFile(t, filepath.Join(out, report.ReportFile)); !strings.Contains(md, "No ratios: this run had no baseline.") {
		t.Fatalf("report.md:\n%s", md)
	}
	if files, _ := filepath.Glob(filepath.Join(out, "*.png")); len(files) != 0 {
		t.Fatalf("--plots=false wrote %v", files)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes([]string{"16", " 256B", "4KiB", "1MiB", "16MiB"})
	if want := []int{16, 256, 4096, 1 << 20, 16 << 20}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("parseSizes = %v, %v; want %v", got, err, want)
	}
	for _, bad := range []string{"", "-1", "0", "1.5KiB", "17MiB", "4kb", "KiB", "16777217"} {
		if _, err := parseSizes([]string{bad}); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

// checkPNG decodes a PNG and checks that it is not blank: several colours
// and a fair share of non-white pixels.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b := img.Bounds()
	if b.Dx() < 100 || b.Dy() < 100 {
		t.Fatalf("%s: %v is too small", path, b)
	}
	colours := map[[4]uint32]bool{}
	ink := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				ink++
			}
		}
	}
	if len(colours) < 3 || ink < b.Dx()*b.Dy()/200 {
		t.Fatalf("%s looks blank: %d colours, %d inked pixels", path, len(colours), ink)
	}
}
