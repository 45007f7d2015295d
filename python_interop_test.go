package binproto_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// pythonPackage returns the folder holding the original Python package
// (../shared/python beside the repository, or $BINPROTO_PYTHON), and the
// python3 to run it with; the test is skipped, saying why, where either is
// missing.
func pythonPackage(t *testing.T) (dir, python string) {
	t.Helper()
	dir = os.Getenv("BINPROTO_PYTHON")
	if dir == "" {
		dir = filepath.Join("..", "shared", "python")
	}
	if _, err := os.Stat(filepath.Join(dir, "binary_protocol", "__init__.py")); err != nil {
		t.Skipf("the original Python package is not at %s (set BINPROTO_PYTHON): %v", dir, err)
	}
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skipf("python3 not found: %v", err)
	}
	return dir, python
}

// TestPythonClientSharesPortWithNative runs the Python package's own
// client and a native binproto client against one server port at the same
// time: the native profile costs the compatible one nothing.
func TestPythonClientSharesPortWithNative(t *testing.T) {
	dir, python := pythonPackage(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	host, port := splitHostPort(t, addr)

	native := dial(t, p, addr, nativeOpts())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, python, filepath.Join("testdata", "python", "quickstart_client.py"), host, port)
	cmd.Env = append(os.Environ(), "PYTHONPATH="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The native client works while the Python one does.
	for i := range 20 {
		var r fixedBench
		v := fixedBench{Value: uint32(i)}
		if _, err := binproto.RequestTyped(ctx, native, binproto.Typed(FixedBenchmark, fixedCodec, &v), fixedCodec, &r); err != nil || r != v {
			t.Fatalf("native request beside the Python client: %v, %+v", err, r)
		}
	}
	type line struct {
		Sent, Type int
		Fields     map[string]any
	}
	var lines []line
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("python printed %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("python client: %v\n%s", err, stderr.Bytes())
	}
	want := map[int]map[string]any{
		1: {"sensor1": 1.5, "sensor2": -2.25, "sensor3": 0.125, "sensor4": 3.0},
		2: {"status_code": 200.0, "message": "hello from python"},
		3: {"data": "000162696e617279ff"},
		4: {"value": 4000000000.0},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d replies, want %d: %+v\n%s", len(lines), len(want), lines, stderr.Bytes())
	}
	for _, l := range lines {
		w := want[l.Sent]
		if l.Type != l.Sent || len(l.Fields) != len(w) {
			t.Errorf("reply %+v, want type %d fields %v", l, l.Sent, w)
			continue
		}
		for k, v := range w {
			if l.Fields[k] != v {
				t.Errorf("type %d field %s = %v, want %v", l.Sent, k, l.Fields[k], v)
			}
		}
	}
}

func splitHostPort(t *testing.T, addr string) (host, port string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return host, port
}
