package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tests that run benchmarks call t.Parallel: their phases are timed, not
// CPU-bound, so running them side by side saves wall time; they only
// assert figures that stay true under contention (non-zero throughput, no
// errors).

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

// runWith is runCLI with the targets and server of w instead of the
// default ones.
func runWith(t *testing.T, w wiring, timeout time.Duration, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := execute(ctx, w, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
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
		{[]string{"bench", "--baseline", "thrift"}, `--baseline: unknown baseline "thrift" (choose http, grpc or none)`},
		{[]string{"bench", "--baseline", "none", "--baseline-addr", "127.0.0.1:1"}, "--baseline-addr given with --baseline none"},
		{[]string{"bench", "--targets", "nope"}, `--targets: unknown target "nope" (this build has: binproto, binproto-native, http, grpc)`},
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
