package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"image/png"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/baseline/httpjson"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// Tests that run benchmarks call t.Parallel: their phases are timed, not
// CPU-bound, so running them side by side saves wall time; they only
// assert figures that stay true under contention (non-zero throughput, no
// errors). Tests that change package state (candidateTargets,
// serveBinproto) stay serial, and so finish before any parallel test runs.

// runCLI runs the command line within timeout and returns its exit code
// and output.
func runCLI(t *testing.T, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// benchTimeout bounds one short bench run; the runs below take a few
// seconds even under the race detector.
const benchTimeout = 60 * time.Second

// quick are flags that keep a bench run short: 150 ms per phase.
var quick = []string{"--duration", "150ms", "--warmup", "0", "--rounds", "1", "--clients", "8",
	"--ramp", "50ms", "--think", "5ms", "--sizes", "16,4096", "--progress", "lines"}

func benchArgs(out string, extra ...string) []string {
	return append(append([]string{"bench", "--out", out}, quick...), extra...)
}

// quickBench runs a quick bench that must succeed and returns its stdout and
// the validated results.json.
func quickBench(t *testing.T, out string, extra ...string) (string, *report.Results) {
	t.Helper()
	code, stdout, stderr := runCLI(t, benchTimeout, benchArgs(out, extra...)...)
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
)

// checkBenchmarks asserts that res holds exactly the benchmarks ids, each
// with a healthy result of every target in targets.
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
		if len(b.Results) != len(targets) {
			t.Errorf("%s: %d results, want one per target %v", b.ID, len(b.Results), targets)
		}
		for _, name := range targets {
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

// checkRatios asserts a binproto/http ratio for every benchmark, in
// results.json and in report.md.
func checkRatios(t *testing.T, res *report.Results, md string) {
	t.Helper()
	if len(res.Ratios) != len(res.Benchmarks) {
		t.Fatalf("%d ratios for %d benchmarks", len(res.Ratios), len(res.Benchmarks))
	}
	for i, q := range res.Ratios {
		b := res.Benchmarks[i]
		if q.Benchmark != b.ID || q.Target != "binproto" || q.Baseline != "http" || q.Throughput <= 0 || q.WireBytes <= 0 {
			t.Errorf("ratio %+v for %s", q, b.ID)
		}
		if timed := b.Mode != report.ModeStream; timed != (q.P99 > 0) {
			t.Errorf("ratio %+v: p99 ratio for mode %s", q, b.Mode)
		}
		row := regexp.MustCompile(`(?m)^\| ` + regexp.QuoteMeta(b.ID) + ` +\| binproto / http +\| [0-9.]+× `)
		if !row.MatchString(md) {
			t.Errorf("report.md has no binproto / http ratio row for %s", b.ID)
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
	for _, s := range []string{"Benchmarking binproto and http (baseline): fixed, variable, realistic, 1 round(s) of 150ms",
		"binproto / http", "Wrote 9 files to " + out, "Report: " + filepath.Join(out, "report.md")} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	if res.SchemaVersion != 1 || res.BaselineName() != "http" || res.Config.Baseline != "http" {
		t.Fatalf("results: version %d, baseline %q", res.SchemaVersion, res.BaselineName())
	}
	checkBenchmarks(t, res, []string{"binproto", "http"}, fixedIDs, variableIDs, realisticIDs)
	for _, ti := range res.Targets {
		if !ti.Embedded || !strings.HasPrefix(ti.Addr, "127.0.0.1:") || ti.Baseline != (ti.Name == "http") {
			t.Errorf("target %+v: want embedded on 127.0.0.1, http the baseline", ti)
		}
	}
	md := readFile(t, filepath.Join(out, report.ReportFile))
	checkRatios(t, res, md)

	plots := []string{report.PlotThroughput, report.PlotLatency, report.PlotScalingMsg, report.PlotScalingMB,
		report.PlotClients, report.PlotCPU, report.PlotRSS}
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
	checkBenchmarks(t, first, []string{"binproto", "http"}, fixedIDs)
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
	if !strings.Contains(stdout, "Benchmarking binproto: fixed, realistic") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"binproto"}, fixedIDs, realisticIDs)
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

// TestBenchWithCandidateTarget registers a second candidate (an HTTP
// target under another name) and selects it with --targets.
func TestBenchWithCandidateTarget(t *testing.T) {
	registerTarget("cand", func(cfg bench.TargetConfig) (bench.Target, error) {
		return httpjson.New(httpjson.Config{Name: "cand", Addr: cfg.Addr}), nil
	})
	t.Cleanup(func() { delete(candidateTargets, "cand") })
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--fixed", "--plots=false", "--targets", "cand")
	if !strings.Contains(stdout, "Benchmarking cand and http (baseline)") || !strings.Contains(stdout, "cand / http") {
		t.Fatalf("no ratio table for the candidate:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"cand", "http"}, fixedIDs)
	if len(res.Ratios) != len(fixedIDs) || res.Ratios[0].Target != "cand" {
		t.Fatalf("ratios %v", res.Ratios)
	}

	// --addr goes to every selected candidate; each says which server does
	// not answer.
	closed := closedPort(t)
	for _, target := range []string{"cand", "binproto"} {
		code, _, stderr := runCLI(t, benchTimeout, benchArgs(filepath.Join(t.TempDir(), "x"), "--fixed", "--targets", target, "--addr", closed)...)
		if code != exitError || !strings.Contains(stderr, "start target "+target) ||
			!strings.Contains(stderr, closed+" does not answer") {
			t.Errorf("--targets %s --addr to a closed port: exit %d, stderr %q", target, code, stderr)
		}
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	notResults := filepath.Join(dir, "other.json")
	if err := os.WriteFile(notResults, []byte(`{"hello": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"bench", "-z"}, "unknown shorthand flag: 'z'"},
		{[]string{"bench", "--rounds", "0"}, "rounds must be at least 1"},
		{[]string{"bench", "--rounds", "many"}, `invalid argument "many" for "--rounds"`},
		{[]string{"bench", "--duration", "-1s"}, "duration must be positive, got -1s"},
		{[]string{"bench", "--duration", "0"}, "duration must be positive"},
		{[]string{"bench", "--duration", "soon"}, `invalid argument "soon" for "--duration"`},
		{[]string{"bench", "--warmup", "-5ms"}, "warmup must not be negative"},
		{[]string{"bench", "--duration", "500ms", "--ramp", "500ms"}, "ramp must be in [0, duration), got 500ms"},
		{[]string{"bench", "--duration", "500ms", "--ramp", "2s"}, "ramp must be in [0, duration)"},
		{[]string{"bench", "--ramp", "-1ms"}, "ramp must be in [0, duration)"},
		{[]string{"bench", "--think", "0"}, "think time must be positive"},
		{[]string{"bench", "--clients", "0"}, "clients must be between 1 and 10000"},
		{[]string{"bench", "--clients", "10001"}, "clients must be between 1 and 10000"},
		{[]string{"bench", "--sizes", "16,abc"}, `--sizes: bad size "abc"`},
		{[]string{"bench", "--sizes", "0"}, `bad size "0"`},
		{[]string{"bench", "--sizes", "-16"}, `bad size "-16"`},
		{[]string{"bench", "--sizes", "17MiB"}, `bad size "17MiB"`},
		{[]string{"bench", "--sizes", ""}, "variable benchmark needs at least one size"},
		{[]string{"bench", "--one-way", "2"}, "one-way fraction must be in [0, 1]"},
		{[]string{"bench", "--one-way", "-0.1"}, "one-way fraction"},
		{[]string{"bench", "--baseline", "grpc"}, `--baseline: unknown baseline "grpc" (choose http or none)`},
		{[]string{"bench", "--baseline", "none", "--baseline-addr", "127.0.0.1:1"}, "--baseline-addr given with --baseline none"},
		{[]string{"bench", "--targets", "nope"}, `--targets: unknown target "nope" (this build has: binproto)`},
		{[]string{"bench", "--targets", "binproto,binproto"}, `--targets: "binproto" is listed twice`},
		{[]string{"bench", "--targets", "", "--baseline", "none"}, "nothing to benchmark: no binproto target (--targets selects none) and --baseline is none"},
		{[]string{"bench", "--targets", "", "--addr", "127.0.0.1:1"}, "--addr: no binproto target (--targets selects none)"},
		{[]string{"bench", "--progress", "fancy"}, "--progress must be auto, lines or none"},
		{[]string{"bench", "--threshold", "0"}, "--threshold must be positive"},
		{[]string{"bench", "--out", ""}, "--out must not be empty"},
		{[]string{"bench", "--compare", filepath.Join(dir, "missing.json")}, "--compare: open " + filepath.Join(dir, "missing.json")},
		{[]string{"bench", "--compare", notResults}, "--compare: " + notResults + ": not a results file"},
		{[]string{"bench", "extra"}, `takes no arguments, got ["extra"]`},
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "binproto"`},
		{[]string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key must be given together"},
		{[]string{"serve", "--tls-key", "k.pem"}, "--tls-cert and --tls-key must be given together"},
		{[]string{"serve", "--udp", "--tls-cert", "c", "--tls-key", "k"}, "--udp cannot be combined with TLS"},
		{[]string{"serve", "--port", "1"}, "unknown flag: --port"},
		{[]string{"serve", "now"}, "takes no arguments"},
	}
	for _, c := range cases {
		// A case that wrongly passed validation would start a benchmark
		// (or a server): the short timeout stops it, and the exit code
		// then fails the case.
		code, stdout, stderr := runCLI(t, 10*time.Second, c.args...)
		if code != exitUsage {
			t.Errorf("%q: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr)
		}
		cmd := "binproto " + c.args[0]
		if c.args[0] == "frobnicate" {
			cmd = "binproto"
		}
		if !strings.HasPrefix(stderr, "binproto: ") || !strings.Contains(stderr, c.want) ||
			!strings.Contains(stderr, "Run '"+cmd+" --help' for usage.") {
			t.Errorf("%q: stderr %q lacks %q and a usage hint for %s", c.args, stderr, c.want, cmd)
		}
		if stdout != "" {
			t.Errorf("%q: output %q", c.args, stdout)
		}
	}
}

// TestServeFlags checks that serve passes its flags to the server (a stub
// here).
func TestServeFlags(t *testing.T) {
	var got serveConfig
	old := serveBinproto
	t.Cleanup(func() { serveBinproto = old })
	serveBinproto = func(_ context.Context, cfg serveConfig, _ io.Writer) error {
		got = cfg
		return nil
	}
	code, _, stderr := runCLI(t, 10*time.Second, "serve", "--addr", "127.0.0.1:9999", "--checksum", "--tls-cert", "c", "--tls-key", "k")
	want := serveConfig{Addr: "127.0.0.1:9999", TLSCert: "c", TLSKey: "k", Checksum: true}
	if code != exitOK || got != want {
		t.Fatalf("exit %d (%s), config %+v, want %+v", code, stderr, got, want)
	}
	code, _, _ = runCLI(t, 10*time.Second, "serve", "--udp")
	if want := (serveConfig{Addr: "127.0.0.1:7700", UDP: true}); code != exitOK || got != want {
		t.Fatalf("exit %d, config %+v, want %+v", code, got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServe runs `binproto serve` with args on a port of its choosing and
// returns the address it serves, a function that stops it and returns its
// exit code, and its output.
func startServe(t *testing.T, args ...string) (addr string, stop func() int, out *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	out = new(syncBuffer)
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- Execute(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), out, &stderr)
	}()
	stop = func() int {
		cancel()
		select {
		case code := <-done:
			return code
		case <-time.After(15 * time.Second):
			t.Fatal("serve did not stop within 15s of its context ending")
			return -1
		}
	}
	// The log line names the port bound to --addr 127.0.0.1:0.
	served := regexp.MustCompile(`msg="serving the benchmark protocol" addr=(127\.0\.0\.1:[0-9]+)`)
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := served.FindStringSubmatch(out.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("serve exited with %d before serving\nstdout:\n%s\nstderr:\n%s", code, out, &stderr)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start within 15s\nstdout:\n%s\nstderr:\n%s", out, &stderr)
		}
	}
	if !slices.Contains(args, "--udp") {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("serve logged %s but does not accept: %v", addr, err)
		}
		nc.Close()
	}
	return addr, stop, out
}

func TestServeAndBenchAddr(t *testing.T) {
	t.Parallel()
	addr, stop, serveOut := startServe(t)
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--fixed", "--addr", addr, "--baseline", "none", "--plots=false")
	if !strings.Contains(stdout, "Benchmarking binproto: fixed") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"binproto"}, fixedIDs)
	if want := (report.TargetInfo{Name: "binproto", Addr: addr}); res.Targets[0] != want {
		t.Fatalf("target %+v, want %+v (not embedded)", res.Targets[0], want)
	}
	md := readFile(t, filepath.Join(out, report.ReportFile))
	if !strings.Contains(md, "| binproto | candidate | "+addr+" | external |") {
		t.Errorf("report.md does not name the external server:\n%s", md)
	}
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit code %d after its context ended\n%s", code, serveOut)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatalf("%s still accepts after serve returned", addr)
	}
}

func TestServeErrors(t *testing.T) {
	t.Parallel()
	// A busy port: serve fails at once, with exit code 1.
	addr, stop, _ := startServe(t)
	code, stdout, stderr := runCLI(t, 10*time.Second, "serve", "--addr", addr)
	if code != exitError || !strings.Contains(stderr, "address already in use") || strings.Contains(stdout, "serving") {
		t.Errorf("serve on a busy port: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exit code %d", code)
	}
	// Unreadable TLS files.
	missing := filepath.Join(t.TempDir(), "missing.pem")
	code, _, stderr = runCLI(t, 10*time.Second, "serve", "--addr", "127.0.0.1:0", "--tls-cert", missing, "--tls-key", missing)
	if code != exitError || !strings.Contains(stderr, missing) {
		t.Errorf("serve with missing TLS files: exit %d, stderr %q", code, stderr)
	}
	// A bad address.
	code, _, stderr = runCLI(t, 10*time.Second, "serve", "--addr", "127.0.0.1:http-alt-nope")
	if code != exitError || !strings.HasPrefix(stderr, "binproto: ") {
		t.Errorf("serve on a bad address: exit %d, stderr %q", code, stderr)
	}
}

// TestServeChecksumNotBenchmarkable: bench speaks the benchmark protocol
// without checksums, and says so instead of measuring garbage.
func TestServeChecksumNotBenchmarkable(t *testing.T) {
	t.Parallel()
	addr, stop, _ := startServe(t, "--checksum")
	code, _, stderr := runCLI(t, benchTimeout, benchArgs(filepath.Join(t.TempDir(), "x"), "--fixed", "--addr", addr, "--baseline", "none")...)
	if code != exitError || !strings.Contains(stderr, addr+" does not answer the benchmark protocol") {
		t.Errorf("bench against serve --checksum: exit %d, stderr %q", code, stderr)
	}
	if code := stop(); code != exitOK {
		t.Errorf("serve exit code %d", code)
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runCLI(t, 10*time.Second, "bench", "--help")
	if code != exitOK || !strings.Contains(stdout, "--compare") || !strings.Contains(stdout, "--baseline") {
		t.Fatalf("help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, 10*time.Second, "serve", "--help")
	if code != exitOK || !strings.Contains(stdout, "--tls-cert") {
		t.Fatalf("serve help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t, 10*time.Second)
	if code != exitOK || !strings.Contains(stdout, "bench") || !strings.Contains(stdout, "serve") {
		t.Fatalf("root help: exit %d\n%s", code, stdout)
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

// exerciseServer echoes a reading and counts one-way messages on the
// benchmark server at addr, dialled with p and opts.
func exerciseServer(t *testing.T, p *binproto.Protocol, addr string, opts *binproto.ClientOptions) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, p, addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	c := &binprotoClient{cl: cl}
	defer c.Close()
	in := bench.Sensor{S1: 1, S2: -2, S3: 0.5, S4: 1e6}
	if got, err := c.Sensor(ctx, in); err != nil || got != in {
		t.Fatalf("Sensor echo %+v, %v; sent %+v", got, err, in)
	}
	for range 3 {
		if err := c.SendSensor(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.Flush(ctx); err != nil || n != 3 {
		t.Fatalf("Flush = %d, %v; want 3", n, err)
	}
}

func TestServeTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := writeTestCert(t)
	addr, stop, out := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile)
	p, err := benchProtocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	exerciseServer(t, p, addr, &binproto.ClientOptions{TLSConfig: &tls.Config{RootCAs: pool}})
	if code := stop(); code != exitOK || !strings.Contains(out.String(), "tls=true") {
		t.Fatalf("serve exit code %d, output:\n%s", code, out)
	}
}

func TestServeUDP(t *testing.T) {
	t.Parallel()
	addr, stop, out := startServe(t, "--udp", "--checksum")
	p, err := benchProtocol(true, true)
	if err != nil {
		t.Fatal(err)
	}
	exerciseServer(t, p, addr, nil)
	if code := stop(); code != exitOK || !strings.Contains(out.String(), "udp=true checksum=true") {
		t.Fatalf("serve exit code %d, output:\n%s", code, out)
	}
}

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key
// as PEM files, and returns them with a pool that trusts the certificate.
func writeTestCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "binproto test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
