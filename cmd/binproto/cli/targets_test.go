package cli

import (
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/target/httpjson"
)

func TestDefaultWiring(t *testing.T) {
	w := defaultWiring()
	if got := names(w.candidates); !slices.Equal(got, []string{"binproto", "binproto-native"}) {
		t.Errorf("candidates %v, want [binproto binproto-native]", got)
	}
	if got := names(w.baselines); !slices.Equal(got, []string{"http", "grpc"}) {
		t.Errorf("baselines %v, want [http grpc]", got)
	}
	for _, nt := range slices.Concat(w.candidates, w.baselines) {
		if tg := nt.build(endpoint{}); tg.Name() != nt.name {
			t.Errorf("target listed as %q is named %q", nt.name, tg.Name())
		}
	}
	if w.serve == nil {
		t.Error("no serve function")
	}
}

// TestBenchWithCandidateTarget adds a second candidate (an HTTP target
// under another name) and selects it with --targets.
func TestBenchWithCandidateTarget(t *testing.T) {
	t.Parallel()
	w := defaultWiring()
	w.candidates = append(w.candidates, namedTarget{"cand", func(ep endpoint) bench.Target {
		return httpjson.New(httpjson.Config{Name: "cand", Addr: ep.addr})
	}})
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBenchWith(t, w, out, "--fixed", "--plots=false", "--targets", "cand")
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
		code, _, stderr := runWith(t, w, benchTimeout, benchArgs(filepath.Join(t.TempDir(), "x"), "--fixed", "--targets", target, "--addr", closed)...)
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

// TestBenchWithoutCandidates: a wiring with the baseline only measures the
// baseline and says why there are no ratios.
func TestBenchWithoutCandidates(t *testing.T) {
	t.Parallel()
	w := defaultWiring()
	w.candidates = nil
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBenchWith(t, w, out, "--fixed", "--plots=false")
	if !strings.Contains(stdout, "note: No binproto target in this build: only the baseline was measured") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"http"}, fixedIDs)
	code, _, stderr := runWith(t, w, 10*time.Second, "bench", "--targets", "binproto")
	if code != exitUsage || !strings.Contains(stderr, `--targets: unknown target "binproto" (this build has: none besides the baseline)`) {
		t.Errorf("--targets binproto without candidates: exit %d, stderr %q", code, stderr)
	}
}

// TestBenchSharedTargets: --concurrent and --hol with --targets run on the
// listed targets, which share one connection; the HTTP baseline, which
// cannot, is dropped with a note. With --baseline grpc they get ratios.
func TestBenchSharedTargets(t *testing.T) {
	t.Parallel()
	out := filepath.Join(t.TempDir(), "res")
	stdout, res := quickBench(t, out, "--concurrent", "--hol", "--plots=false", "--targets", "binproto,grpc")
	for _, s := range []string{"Benchmarking binproto and grpc: concurrent, hol", "note: The baseline http cannot share one connection",
		"Callers sharing one client and one connection", "Head-of-line blocking"} {
		if !strings.Contains(stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, stdout)
		}
	}
	checkBenchmarks(t, res, []string{"binproto", "grpc"}, sharedIDs)
	hol := res.Benchmark(report.BenchHOL)
	for _, tr := range hol.Results {
		if rr := tr.Rounds[0]; uint64(rr.Latency.Count)+rr.SlowCalls != rr.Messages {
			t.Errorf("hol on %s: %d fast latencies and %d slow calls for %d calls", tr.Target, rr.Latency.Count, rr.SlowCalls, rr.Messages)
		}
	}
	if md := readFile(t, filepath.Join(out, report.ReportFile)); !strings.Contains(md, "## Head-of-line blocking") {
		t.Error("report.md has no head-of-line section")
	}

	out = filepath.Join(t.TempDir(), "base")
	_, res = quickBench(t, out, "--concurrent", "--plots=false", "--baseline", "grpc")
	checkBenchmarks(t, res, []string{"binproto", "binproto-native", "grpc"}, sharedIDs[:2])
	if res.BaselineName() != "grpc" || len(res.Ratios) != 4 || res.Ratios[0].Target != "binproto" || res.Ratios[1].Target != "binproto-native" || res.Ratios[0].Throughput <= 0 {
		t.Fatalf("baseline %q, ratios %+v", res.BaselineName(), res.Ratios)
	}
}
