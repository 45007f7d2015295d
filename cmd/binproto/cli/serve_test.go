package cli

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

// TestServeFlags checks that serve passes its flags to the server (a stub
// here).
func TestServeFlags(t *testing.T) {
	var got binprototarget.ServeConfig
	w := defaultWiring()
	w.serve = func(_ context.Context, cfg binprototarget.ServeConfig, _ io.Writer) error {
		got = cfg
		return nil
	}
	code, _, stderr := runWith(t, w, 10*time.Second, "serve", "--addr", "127.0.0.1:9999", "--checksum", "--tls-cert", "c", "--tls-key", "k")
	want := binprototarget.ServeConfig{Addr: "127.0.0.1:9999", TLSCert: "c", TLSKey: "k", Checksum: true}
	if code != exitOK || got != want {
		t.Fatalf("exit %d (%s), config %+v, want %+v", code, stderr, got, want)
	}
	code, _, _ = runWith(t, w, 10*time.Second, "serve", "--udp")
	if want := (binprototarget.ServeConfig{Addr: "127.0.0.1:7700", UDP: true}); code != exitOK || got != want {
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
