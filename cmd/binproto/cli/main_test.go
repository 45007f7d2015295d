package cli

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/baseline/httpjson"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// runCLI runs the command line and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := Execute(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// quick are flags that keep a bench run short.
var quick = []string{"--duration", "200ms", "--rounds", "1", "--warmup", "20ms", "--clients", "5",
	"--ramp", "50ms", "--think", "5ms", "--sizes", "16,4KiB", "--progress", "lines"}

func benchArgs(out string, extra ...string) []string {
	return append(append([]string{"bench", "--out", out}, quick...), extra...)
}

func TestBenchAllWritesValidResults(t *testing.T) {
	out := filepath.Join(t.TempDir(), "res")
	code, stdout, stderr := runCLI(t, benchArgs(out, "--all")...)
	if code != exitOK {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	for _, s := range []string{"binproto target not available", "fixed/sensor-rr", "realistic/mixed",
		"variable/echo-rr/4096", "Wrote 9 files to " + out, "Report: " + filepath.Join(out, "report.md")} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	res, err := report.Load(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatalf("results.json does not validate: %v", err)
	}
	if res.SchemaVersion != 1 || len(res.Benchmarks) != 7 || res.BaselineName() != "http" {
		t.Fatalf("results: version %d, %d benchmarks, baseline %q", res.SchemaVersion, len(res.Benchmarks), res.BaselineName())
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "*.png"))
	if len(pngs) != 7 {
		t.Fatalf("%d PNG files: %v", len(pngs), pngs)
	}
	for _, p := range pngs {
		checkPNG(t, p)
	}
}

func TestBenchCompareFlagsRegression(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := runCLI(t, benchArgs(filepath.Join(dir, "first"), "--fixed", "--plots=false")...)
	if code != exitOK {
		t.Fatalf("first run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	prev, err := report.Load(filepath.Join(dir, "first", report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	plantBetterNumbers(prev)
	data, err := prev.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	prevPath := filepath.Join(dir, "prev.json")
	if err := os.WriteFile(prevPath, data, 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "second")
	code, stdout, stderr = runCLI(t, benchArgs(out, "--fixed", "--plots=false", "--compare", prevPath)...)
	if code != exitOK {
		t.Fatalf("compare run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "REGRESSION") {
		t.Fatalf("no regression flagged:\n%s", stdout)
	}
	res, err := report.Load(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if res.Comparison == nil || res.Comparison.Regressions < 2 || res.Comparison.Previous != prevPath {
		t.Fatalf("comparison in results.json: %+v", res.Comparison)
	}
	md, _ := os.ReadFile(filepath.Join(out, report.ReportFile))
	if !strings.Contains(string(md), "**REGRESSION**") {
		t.Fatal("report.md does not flag the regression")
	}

	code, _, stderr = runCLI(t, benchArgs(filepath.Join(dir, "third"), "--fixed", "--plots=false", "--compare", prevPath, "--fail-on-regression")...)
	if code != exitError || !strings.Contains(stderr, "regression(s) against") {
		t.Fatalf("--fail-on-regression: exit %d, stderr %q", code, stderr)
	}
}

// plantBetterNumbers makes a previous run ten times faster than anything
// this machine can do, so the current run must regress against it.
func plantBetterNumbers(r *report.Results) {
	for bi := range r.Benchmarks {
		for ti := range r.Benchmarks[bi].Results {
			s := &r.Benchmarks[bi].Results[ti].Summary
			s.MsgsPerSec.Median *= 10
			s.P99Us.Median /= 10
		}
	}
}

func TestBenchWithCandidateTarget(t *testing.T) {
	registerTarget("cand", func(cfg bench.TargetConfig) (bench.Target, error) {
		return httpjson.New(httpjson.Config{Name: "cand", Addr: cfg.Addr}), nil
	})
	t.Cleanup(func() { delete(candidateTargets, "cand") })
	out := filepath.Join(t.TempDir(), "res")
	code, stdout, stderr := runCLI(t, benchArgs(out, "--fixed", "--plots=false")...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	if files, _ := filepath.Glob(filepath.Join(out, "*.png")); len(files) != 0 {
		t.Fatalf("--plots=false wrote %v", files)
	}
	if !strings.Contains(stdout, "cand / http") || strings.Contains(stdout, "not available") {
		t.Fatalf("no ratio table for the candidate:\n%s", stdout)
	}
	res, err := report.Load(filepath.Join(out, report.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Targets) != 2 || len(res.Ratios) != 2 {
		t.Fatalf("targets %v, ratios %v", res.Targets, res.Ratios)
	}

	code, _, stderr = runCLI(t, benchArgs(filepath.Join(t.TempDir(), "x"), "--fixed", "--addr", "127.0.0.1:1")...)
	if code != exitError || !strings.Contains(stderr, "does not answer") {
		t.Fatalf("--addr to a closed port: exit %d, stderr %q", code, stderr)
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"bench", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"bench", "--rounds", "0"}, "rounds must be at least 1"},
		{[]string{"bench", "--rounds", "many"}, "invalid argument"},
		{[]string{"bench", "--duration", "-1s"}, "duration must be positive"},
		{[]string{"bench", "--duration", "soon"}, "invalid argument"},
		{[]string{"bench", "--clients", "0"}, "clients must be between"},
		{[]string{"bench", "--sizes", "16,abc"}, `bad size "abc"`},
		{[]string{"bench", "--sizes", "0"}, `bad size "0"`},
		{[]string{"bench", "--one-way", "2"}, "one-way fraction"},
		{[]string{"bench", "--baseline", "grpc"}, `unknown baseline "grpc"`},
		{[]string{"bench", "--baseline", "none"}, "nothing to benchmark"},
		{[]string{"bench", "--baseline", "none", "--baseline-addr", "127.0.0.1:1"}, "--baseline-addr given with --baseline none"},
		{[]string{"bench", "--targets", "binproto"}, `unknown target "binproto"`},
		{[]string{"bench", "--addr", "127.0.0.1:9"}, "no binproto target"},
		{[]string{"bench", "--progress", "fancy"}, "--progress must be"},
		{[]string{"bench", "--threshold", "0"}, "--threshold must be positive"},
		{[]string{"bench", "--compare", filepath.Join(dir, "missing.json")}, "--compare"},
		{[]string{"bench", "extra"}, "takes no arguments"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"serve", "--tls-cert", "c.pem"}, "--tls-cert and --tls-key must be given together"},
		{[]string{"serve", "--udp", "--tls-cert", "c", "--tls-key", "k"}, "--udp cannot be combined with TLS"},
		{[]string{"serve", "--port", "1"}, "unknown flag: --port"},
	}
	for _, c := range cases {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", c.args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "--help' for usage") {
			t.Errorf("%v: stderr %q lacks %q and a usage hint", c.args, stderr, c.want)
		}
		if strings.Contains(stdout, "Benchmarking") {
			t.Errorf("%v: a benchmark started", c.args)
		}
	}
}

func TestServeWithoutDriver(t *testing.T) {
	code, _, stderr := runCLI(t, "serve")
	if code != exitError || !strings.Contains(stderr, "binproto server not available in this build") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got serveConfig
	old := serveBinproto
	t.Cleanup(func() { serveBinproto = old })
	serveBinproto = func(_ context.Context, cfg serveConfig, _ io.Writer) error {
		got = cfg
		return nil
	}
	code, _, stderr = runCLI(t, "serve", "--addr", "127.0.0.1:9999", "--checksum", "--tls-cert", "c", "--tls-key", "k")
	want := serveConfig{Addr: "127.0.0.1:9999", TLSCert: "c", TLSKey: "k", Checksum: true}
	if code != exitOK || got != want {
		t.Fatalf("exit %d (%s), config %+v, want %+v", code, stderr, got, want)
	}
}

func TestHelp(t *testing.T) {
	code, stdout, _ := runCLI(t, "bench", "--help")
	if code != exitOK || !strings.Contains(stdout, "--compare") || !strings.Contains(stdout, "--baseline") {
		t.Fatalf("help: exit %d\n%s", code, stdout)
	}
	code, stdout, _ = runCLI(t)
	if code != exitOK || !strings.Contains(stdout, "bench") || !strings.Contains(stdout, "serve") {
		t.Fatalf("root help: exit %d\n%s", code, stdout)
	}
}

func TestParseSizes(t *testing.T) {
	got, err := parseSizes([]string{"16", " 256B", "4KiB", "1MiB"})
	if err != nil || len(got) != 4 || got[0] != 16 || got[1] != 256 || got[2] != 4096 || got[3] != 1<<20 {
		t.Fatalf("parseSizes = %v, %v", got, err)
	}
	for _, bad := range []string{"", "-1", "1.5KiB", "17MiB", "4kb"} {
		if _, err := parseSizes([]string{bad}); err == nil {
			t.Errorf("parseSizes(%q) accepted", bad)
		}
	}
}

// checkPNG decodes a PNG and checks that it is not blank.
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
	colours := map[[4]uint32]bool{}
	ink := 0
	b := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok {
		t.Fatalf("%s: decoded as %T, want *image.RGBA", path, img)
	}
	for i := 0; i+3 < len(rgba.Pix); i += 4 {
		p := rgba.Pix[i : i+4]
		colours[[4]uint32{uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])}] = true
		if p[0] < 0xf0 || p[1] < 0xf0 || p[2] < 0xf0 {
			ink++
		}
	}
	if len(colours) < 3 || ink < b.Dx()*b.Dy()/200 {
		t.Fatalf("%s looks blank: %d colours, %d inked pixels", path, len(colours), ink)
	}
}
