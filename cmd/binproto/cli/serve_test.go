package cli

import (
	"context"
	"errors"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/report"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
	"github.com/binproto/binproto/quickstart"
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
	want := defaultServeConfig()
	want.Addr, want.TLSCert, want.TLSKey, want.Checksum = "127.0.0.1:9999", "c", "k", true
	if code != exitOK || got != want {
		t.Fatalf("exit %d (%s), config %+v, want %+v", code, stderr, got, want)
	}
	want = defaultServeConfig()
	want.UDP = true
	if code, _, _ = runWith(t, w, 10*time.Second, "serve", "--udp"); code != exitOK || got != want {
		t.Fatalf("exit %d, config %+v, want %+v", code, got, want)
	}
	// The hardened defaults: the library's, 256 per IP, rates off, no
	// token, and a payload limit that fits the 1 MiB benchmark payload.
	def := defaultServeConfig()
	if def.MaxConns != 0 || def.MaxConnsPerIP != 256 || def.IdleTimeout != 5*time.Minute ||
		def.MaxPayload != 1<<20+4 || def.MaxBuffered != 64<<20 || def.ConnMsgRate != 0 || def.ConnByteRate != 0 || def.Token != "" {
		t.Errorf("default serve config %+v", def)
	}
	// Every limit flag reaches the config.
	code, _, stderr = runWith(t, w, 10*time.Second, "serve", "--max-conns", "7", "--max-conns-per-ip", "3",
		"--idle-timeout", "2s", "--max-payload", "64KiB", "--max-buffered", "8MiB", "--conn-msg-rate", "500",
		"--conn-byte-rate", "1MiB", "--token", "0123456789abcdef", "--proxy-protocol", "trusted=127.0.0.1/32",
		"--max-connection-age", "10m", "--max-connection-age-grace", "30s")
	want = defaultServeConfig()
	want.ProxyProtocol, want.MaxConnAge, want.MaxConnAgeGrace = "trusted=127.0.0.1/32", 10*time.Minute, 30*time.Second
	want.MaxConns, want.MaxConnsPerIP, want.IdleTimeout, want.MaxPayload, want.MaxBuffered = 7, 3, 2*time.Second, 64<<10, 8<<20
	want.ConnMsgRate, want.ConnByteRate, want.Token = 500, 1<<20, "0123456789abcdef"
	if code != exitOK || got != want {
		t.Fatalf("exit %d (%s), config %+v, want %+v", code, stderr, got, want)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--token", "short"}, "--token must be at least 16 bytes"},
		{[]string{"--token", "0123456789abcdef", "--udp"}, "--token cannot be combined with --udp"},
		{[]string{"--max-payload", "lots"}, `bad size "lots"`},
		{[]string{"--max-conns-per-ip", "-1"}, "connections per IP must not be negative"},
		{[]string{"--conn-msg-rate", "-5"}, "rates must not be negative"},
		{[]string{"--proxy-protocol", "v2"}, "want off, required or trusted="},
		{[]string{"--max-connection-age", "-1s"}, "must not be negative"},
		{[]string{"--proxy-protocol", "required", "--udp"}, "PROXY protocol needs TCP"},
	} {
		code, _, stderr := runWith(t, w, 10*time.Second, append([]string{"serve"}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.msg) {
			t.Errorf("serve %v: exit %d, stderr %q, want usage error %q", c.args, code, stderr, c.msg)
		}
	}
}

// TestServeLogsLimits: serve logs the limits it enforces, defaults
// resolved.
func TestServeLogsLimits(t *testing.T) {
	t.Parallel()
	_, stop, out := startServe(t, "--max-conns-per-ip", "9", "--conn-msg-rate", "100")
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit code %d", code)
	}
	for _, want := range []string{`msg=limits max_conns=`, "max_conns_per_ip=9 idle_timeout=5m0s", "max_payload=1048580 max_buffered=67108864 conn_msg_rate=100 conn_byte_rate=off", "auth=none"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestServeMaxConns: with --max-conns 2, a third connection is closed at
// once while two are served.
func TestServeMaxConns(t *testing.T) {
	t.Parallel()
	addr, stop, _ := startServe(t, "--max-conns", "2")
	defer stop()
	p, err := binprototarget.Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for range 2 { // served: each answers a request
		cl, err := binproto.Dial(ctx, p, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		in := quickstart.Sensor{Sensor1: 1}
		var out quickstart.Sensor
		if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out); err != nil {
			t.Fatalf("request within --max-conns: %v", err)
		}
	}
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosedSilently(t, nc, sensorFrame())
}

// TestServeToken: with --token, a request before authenticating gets no
// reply (the connection is closed), an authenticated client is served, and
// bench --addr --token measures it.
func TestServeToken(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-test"
	addr, stop, out := startServe(t, "--token", token)
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosedSilently(t, nc, sensorFrame())

	p, err := binprototarget.Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts := &binproto.ClientOptions{Auth: binproto.TokenCredentials{Types: binprototarget.AuthTypes, Token: []byte(token)}}
	cl, err := binproto.Dial(ctx, p, addr, opts)
	if err != nil {
		t.Fatalf("authenticated dial: %v", err)
	}
	in := quickstart.Sensor{Sensor2: 2}
	var got quickstart.Sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &got); err != nil || got != in {
		t.Fatalf("authenticated request: %+v, %v", got, err)
	}
	cl.Close()

	// bench without the token is told why it cannot measure; with it, it
	// measures.
	dir := t.TempDir()
	code, _, stderr := runCLI(t, benchTimeout, benchArgs(filepath.Join(dir, "a"), "--fixed", "--addr", addr, "--baseline", "none")...)
	if code != exitError || !strings.Contains(stderr, "same --token") {
		t.Errorf("bench without --token: exit %d, stderr %q", code, stderr)
	}
	_, res := quickBench(t, filepath.Join(dir, "b"), "--fixed", "--addr", addr, "--baseline", "none", "--plots=false", "--token", token)
	checkBenchmarks(t, res, []string{"binproto", "binproto-native"}, fixedIDs)
	if code := stop(); code != exitOK {
		t.Fatalf("serve exit code %d\n%s", code, out)
	}
	if !strings.Contains(out.String(), "auth=token") {
		t.Errorf("log does not say auth=token:\n%s", out)
	}
}

// TestServeDefaultPayloadFitsBench: the default --max-payload fits the
// benchmark's 1 MiB variable-size run, and refuses one byte more of data.
func TestServeDefaultPayloadFitsBench(t *testing.T) {
	t.Parallel()
	addr, stop, _ := startServe(t)
	defer stop()
	p, err := binprototarget.Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, c := range []struct {
		size int
		ok   bool
	}{{1 << 20, true}, {1<<20 + 1, false}} {
		cl, err := binproto.Dial(ctx, p, addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		in := quickstart.Blob{Data: make([]byte, c.size)}
		var got quickstart.Blob
		_, err = binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &in), quickstart.BlobCodec, &got)
		cl.Close()
		if (err == nil) != c.ok || (c.ok && len(got.Data) != c.size) {
			t.Errorf("echo of %d bytes: %d bytes back, %v; want ok=%v", c.size, len(got.Data), err, c.ok)
		}
	}
}

// sensorFrame is a SENSOR_DATA request as bytes: type 1, 16 bytes.
func sensorFrame() []byte { return append([]byte{0, 1}, make([]byte, 16)...) }

// expectClosedSilently writes frame to nc and checks that the server closes
// the connection without sending a byte.
func expectClosedSilently(t *testing.T, nc net.Conn, frame []byte) {
	t.Helper()
	_, _ = nc.Write(frame) // may fail if already closed
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := nc.Read(buf)
	if n > 0 || err == nil {
		t.Fatalf("got %d bytes %x (%v), want the connection closed with no reply", n, buf[:n], err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection neither answered nor closed within 10s")
	}
}

// startServe runs `binproto serve` with args on a port of its choosing and
// returns the address it serves, a function that stops it and returns its
// exit code, and its output.
func startServe(t *testing.T, args ...string) (addr string, stop func() int, out *testutil.SyncBuffer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	out = new(testutil.SyncBuffer)
	var stderr testutil.SyncBuffer
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
	served := regexp.MustCompile(`msg="serving the [^"]*" addr=(127\.0\.0\.1:[0-9]+)`)
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
	if !strings.Contains(stdout, "Benchmarking binproto and binproto-native: fixed") {
		t.Errorf("output:\n%s", stdout)
	}
	checkBenchmarks(t, res, []string{"binproto", "binproto-native"}, fixedIDs)
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
