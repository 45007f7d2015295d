package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/examples/internal/exampletest"
	"github.com/binproto/binproto/quickstart"
)

// steps are the names of the steps, in the order they print.
var steps = []string{"concurrency", "handler error", "validator", "deadline", "cancellation", "max streams", "keepalive", "compatible", "shutdown"}

// stepLine is a step's line: its name, ok or FAIL, what happened.
var stepLine = regexp.MustCompile(`^([a-z ]+?) +(ok|FAIL) +(.*)$`)

// checkSteps checks that out has one ok line per step, in order, and no
// FAIL; skipped names the steps that must say they were skipped.
func checkSteps(t *testing.T, out string, skipped ...string) {
	t.Helper()
	var got []string
	for _, line := range strings.Split(out, "\n") {
		if m := stepLine.FindStringSubmatch(line); m != nil {
			if m[2] != "ok" {
				t.Errorf("a step failed: %s", line)
			}
			if want := slices.Contains(skipped, m[1]); want != strings.HasPrefix(m[3], "skipped") {
				t.Errorf("step %q: skipped %v, want %v", m[1], !want, want)
			}
			got = append(got, m[1])
		}
	}
	if strings.Join(got, ",") != strings.Join(steps, ",") {
		t.Errorf("steps %q, want %q", got, steps)
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}

// TestInProcess runs the program as `go run ./examples/native` does: every
// step passes, and each says what it should.
func TestInProcess(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"-timeout", "60s"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	checkSteps(t, out.String())
	for _, want := range []string{
		`held on the server while 10 calls on the same connection were answered`,
		`code "invalid", retryable false: "\"twelve\" is not a number"; the next call on the connection: 21 doubled is 42`,
		`code "invalid", not processed true: "message rejected by its validator: type 10: job id 0"`,
		`the handler noted "held, deadline in `,
		`failed with "context deadline exceeded"`,
		`16 calls held; one more refused: code "unavailable", retryable true`,
		`a compatible client on the same port got its STATUS echo`,
		`after the goaway a call failed: code "unavailable", not processed, retryable; the job held meanwhile completed`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// TestServeAndAddr runs the server (-serve) and the client (-addr) as two
// runs of the program, as two processes would: every step passes but the
// shutdown, skipped; a Python-style compatible client is served on the
// same port; the server shuts down when its context ends.
func TestServeAndAddr(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var serveOut exampletest.SyncBuffer
	served := make(chan error, 1)
	go func() { served <- run(ctx, []string{"-serve", "127.0.0.1:0"}, &serveOut) }()
	addrRE := regexp.MustCompile(`serving the native and compatible profiles on (127\.0\.0\.1:[0-9]+)`)
	var addr string
	for deadline := time.Now().Add(15 * time.Second); addr == ""; {
		if m := addrRE.FindStringSubmatch(serveOut.String()); m != nil {
			addr = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("the server did not start:\n%s", serveOut.String())
		} else {
			time.Sleep(5 * time.Millisecond)
		}
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"-addr", addr, "-timeout", "60s"}, &out); err != nil {
		t.Fatalf("run -addr: %v\n%s", err, out.String())
	}
	checkSteps(t, out.String(), "shutdown")

	// The compatible profile on the same port: the quick-start echo, as
	// basic_client and the Python package's client use it.
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := binproto.Dial(ctx, p, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	in := quickstart.Sensor{Sensor1: 1.5, Sensor2: -2, Sensor3: 0.25, Sensor4: 8}
	var back quickstart.Sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &back); err != nil || back != in {
		t.Fatalf("a compatible quick-start client: %+v, %v", back, err)
	}

	cancel()
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, serveOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the server did not stop")
	}
	if !strings.Contains(serveOut.String(), "shut down") {
		t.Errorf("the server's output lacks its shutdown:\n%s", serveOut.String())
	}
}

// serveOther serves srv on a loopback port until the test ends.
func serveOther(t *testing.T, srv *binproto.Server) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return l.Addr().String()
}

// TestWrongServers runs the client against servers it cannot use: one
// that does not speak the native profile, and one with another
// configuration (basic_server's). Each fails at connect, saying why.
func TestWrongServers(t *testing.T) {
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	compatibleOnly := quickstart.EchoServer(p)
	compatibleOnly.Native.Disable = true
	for _, c := range []struct {
		name string
		srv  *binproto.Server
		is   error
		as   any
		want string
	}{
		{"compatible only", compatibleOnly, binproto.ErrNotNative, nil, "native"},
		{"another configuration", quickstart.EchoServer(p), nil, new(*binproto.ConfigMismatchError), "configuration differs"},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := serveOther(t, c.srv)
			var out bytes.Buffer
			err := run(context.Background(), []string{"-addr", addr, "-timeout", "10s"}, &out)
			switch {
			case err == nil:
				t.Fatalf("run passed against a server it cannot use:\n%s", out.String())
			case c.is != nil && !errors.Is(err, c.is):
				t.Errorf("run = %v, want %v", err, c.is)
			case c.as != nil && !errors.As(err, c.as):
				t.Errorf("run = %v, want a %T", err, c.as)
			case !strings.Contains(err.Error(), c.want):
				t.Errorf("run = %v, want it to say %q", err, c.want)
			}
		})
	}
}

func TestRunErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"-timeout", "soon"}, "invalid value"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-addr", "127.0.0.1:1", "-serve", "127.0.0.1:0"}, "exclude each other"},
		{[]string{"-serve", "256.0.0.1:0"}, "256.0.0.1"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), c.args, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q = %v, want an error with %q", c.args, err, c.want)
		}
	}
}
