package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/cli"
	"github.com/binproto/binproto/examples/internal/exampletest"
	"github.com/binproto/binproto/quickstart"
)

// serve runs srv on a loopback port (TCP, or UDP for a UDP protocol) until
// the test ends and returns its address.
func serve(t *testing.T, srv *binproto.Server, udp bool) string {
	t.Helper()
	done := make(chan error, 1)
	var addr string
	if udp {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = pc.LocalAddr().String()
		go func() { done <- srv.ServePacket(pc) }()
	} else {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr = l.Addr().String()
		go func() { done <- srv.Serve(l) }()
	}
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return addr
}

// echoServer serves the quick-start protocol with o and returns its address.
func echoServer(t *testing.T, o quickstart.Options) string {
	t.Helper()
	p, err := quickstart.Protocol(o)
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, quickstart.EchoServer(p), o.UDP)
}

var okLine = regexp.MustCompile(`(?m)^(SENSOR_DATA|STATUS|BENCHMARK|FIXED_BENCHMARK) +ok +sent .*, got .*$`)

func TestEchoes(t *testing.T) {
	for _, c := range []struct {
		name string
		o    quickstart.Options
		args []string
	}{
		{"tcp", quickstart.Options{}, nil},
		{"checksum", quickstart.Options{Checksum: true}, []string{"-checksum"}},
		{"udp", quickstart.Options{UDP: true}, []string{"-udp"}},
		{"udp-checksum", quickstart.Options{UDP: true, Checksum: true}, []string{"-udp", "-checksum"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := echoServer(t, c.o)
			var out bytes.Buffer
			args := append([]string{"-addr", addr, "-timeout", "10s"}, c.args...)
			if err := run(args, &out); err != nil {
				t.Fatalf("run %q: %v\n%s", args, err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 4 || len(okLine.FindAllString(out.String(), -1)) != 4 {
				t.Fatalf("want 4 ok lines, one per type:\n%s", out.String())
			}
			for i, name := range []string{"SENSOR_DATA", "STATUS", "BENCHMARK", "FIXED_BENCHMARK"} {
				if !strings.HasPrefix(lines[i], name+" ") {
					t.Errorf("line %d is %q, want %s first", i, lines[i], name)
				}
			}
		})
	}
}

// TestStatusMismatch runs against a server whose STATUS handler answers
// with a different message: run must fail naming STATUS, and the other
// types still pass.
func TestStatusMismatch(t *testing.T) {
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := quickstart.EchoServer(p)
	binproto.HandleTyped(srv, quickstart.Status, quickstart.StatusCodec,
		func(_ context.Context, _ *binproto.Conn, m *quickstart.StatusMsg) (binproto.Outgoing, error) {
			return binproto.Typed(quickstart.Status, quickstart.StatusCodec, &quickstart.StatusMsg{Code: m.Code, Message: "something else"}), nil
		})
	addr := serve(t, srv, false)
	var out bytes.Buffer
	err = run([]string{"-addr", addr, "-timeout", "10s"}, &out)
	if err == nil || !strings.Contains(err.Error(), "STATUS") {
		t.Fatalf("run = %v, want an error naming STATUS\n%s", err, out.String())
	}
	for _, name := range []string{"SENSOR_DATA", "BENCHMARK", "FIXED_BENCHMARK"} {
		if strings.Contains(err.Error(), name) {
			t.Errorf("error %q names %s, which echoed correctly", err, name)
		}
	}
	if !regexp.MustCompile(`(?m)^STATUS +MISMATCH .*something else`).MatchString(out.String()) ||
		len(okLine.FindAllString(out.String(), -1)) != 3 {
		t.Fatalf("want STATUS MISMATCH and 3 ok lines:\n%s", out.String())
	}
}

// TestWrongServer: a checksum client against a plain server fails within
// its timeout instead of hanging.
func TestWrongServer(t *testing.T) {
	addr := echoServer(t, quickstart.Options{})
	start := time.Now()
	var out bytes.Buffer
	if err := run([]string{"-addr", addr, "-checksum", "-timeout", "2s"}, &out); err == nil {
		t.Fatalf("a checksum client passed against a plain server:\n%s", out.String())
	}
	if d := time.Since(start); d > 30*time.Second { // a hang guard: without the timeout it never returns
		t.Fatalf("run took %v with -timeout 2s", d)
	}
}

func TestRunErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-addr", closed, "-timeout", "5s"}, "refused"},
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-timeout", "soon"}, "invalid value"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-benchmark", "-udp"}, "do not apply to -benchmark"},
	} {
		var out bytes.Buffer
		err := run(c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q = %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestBenchmark runs -benchmark -fixed against a `binproto serve` started
// through the same cli package: the flags must reach `binproto bench`.
func TestBenchmark(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var serveOut, serveErr exampletest.SyncBuffer
	served := make(chan int, 1)
	go func() { served <- cli.Execute(ctx, []string{"serve", "--addr", "127.0.0.1:0"}, &serveOut, &serveErr) }()
	addrRE := regexp.MustCompile(`msg="serving the benchmark protocol" addr=(127\.0\.0\.1:[0-9]+)`)
	var addr string
	for deadline := time.Now().Add(15 * time.Second); addr == ""; {
		if m := addrRE.FindStringSubmatch(serveOut.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s\n%s", serveOut.String(), serveErr.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}

	dir := filepath.Join(t.TempDir(), "res")
	var out bytes.Buffer
	if err := run([]string{"-benchmark", "-fixed", "-addr", addr, "-out", dir}, &out); err != nil {
		t.Fatalf("run -benchmark: %v\n%s", err, out.String())
	}
	for _, s := range []string{"Benchmarking binproto, binproto-native and http (baseline): fixed,", "fixed/sensor-stream", "binproto / http", "binproto-native / http", "Wrote 6 files to"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("output lacks %q:\n%s", s, out.String())
		}
	}
	results, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Targets []struct {
			Name, Addr         string
			Baseline, Embedded bool
		}
	}
	if err := json.Unmarshal(results, &res); err != nil {
		t.Fatal(err)
	}
	// Both binproto profiles measure the one server (it serves both on its
	// port); http is the embedded baseline.
	if len(res.Targets) != 3 || res.Targets[0].Name != "binproto" || res.Targets[0].Addr != addr || res.Targets[0].Embedded ||
		res.Targets[1].Name != "binproto-native" || res.Targets[1].Addr != addr || res.Targets[1].Embedded ||
		res.Targets[2].Name != "http" || !res.Targets[2].Baseline {
		t.Errorf("results.json targets %+v, want binproto and binproto-native at %s (not embedded) and the http baseline", res.Targets, addr)
	}
	cancel()
	select {
	case code := <-served:
		if code != 0 {
			t.Fatalf("serve exit code %d\n%s", code, serveErr.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
}
