package binprototarget

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
	"github.com/binproto/binproto/quickstart"
)

// testCtx returns a context that bounds one test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// startBinproto starts the binproto target with addr ("" for the embedded
// server) and closes it when the test ends.
func startBinproto(t *testing.T, ctx context.Context, addr string) (bench.Target, bench.Endpoint) {
	t.Helper()
	tg := New(Config{Addr: addr})
	if tg.Name() != "binproto" {
		t.Fatalf("target name %q", tg.Name())
	}
	return tg, testutil.Start(ctx, t, tg)
}

func dialBinproto(t *testing.T, ctx context.Context, tg bench.Target) bench.Client {
	t.Helper()
	c, err := tg.Dial(ctx)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestBinprotoEmbeddedEndpoint(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	unstarted := New(Config{})
	if c, err := unstarted.Dial(ctx); err == nil {
		c.Close()
		t.Fatal("Dial before Start succeeded")
	}
	if err := unstarted.Close(); err != nil {
		t.Fatalf("Close before Start: %v", err)
	}
	_, ep := startBinproto(t, ctx, "")
	host, _, err := net.SplitHostPort(ep.Addr)
	if err != nil || host != "127.0.0.1" || !ep.Embedded {
		t.Fatalf("endpoint %+v (%v), want an embedded server on 127.0.0.1", ep, err)
	}
}

func TestBinprotoSensorEcho(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	tg, _ := startBinproto(t, ctx, "")
	c := dialBinproto(t, ctx, tg)
	for _, s := range []bench.Sensor{
		{},
		{S1: 1.5, S2: -2.25, S3: 0.125, S4: 3},
		{S1: 3.4e38, S2: -1e-38, S3: 1.0 / 3, S4: -0.0},
	} {
		got, err := c.Sensor(ctx, s)
		if err != nil {
			t.Fatalf("Sensor(%+v): %v", s, err)
		}
		if got != s {
			t.Fatalf("Sensor(%+v) echoed %+v", s, got)
		}
	}
}

func TestBinprotoEchoSizes(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tg, _ := startBinproto(t, ctx, "")
	c := dialBinproto(t, ctx, tg)
	for _, size := range []int{0, 1, 4096, 1 << 20, 1} {
		in := make([]byte, size)
		for i := range in {
			in[i] = byte(i*7 + size)
		}
		want := bytes.Clone(in)
		got, err := c.Echo(ctx, in)
		if err != nil {
			t.Fatalf("Echo(%d bytes): %v", size, err)
		}
		if !bytes.Equal(got, want) || !bytes.Equal(in, want) {
			t.Fatalf("Echo(%d bytes) returned %d bytes that differ (or changed the input)", size, len(got))
		}
	}
}

func TestBinprotoFlushCountsOneWay(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tg, _ := startBinproto(t, ctx, "")
	a := dialBinproto(t, ctx, tg)
	b := dialBinproto(t, ctx, tg)
	bs, ok := a.(bench.BatchSender)
	if !ok {
		t.Fatal("the binproto client is not a bench.BatchSender")
	}

	if n, err := a.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("first Flush = %d, %v; want 0", n, err)
	}
	w0 := a.WireBytes()
	const sensors = 37
	for i := range sensors {
		if err := a.SendSensor(ctx, bench.Sensor{S1: float32(i)}); err != nil {
			t.Fatal(err)
		}
	}
	payloads := [][]byte{{}, {1}, bytes.Repeat([]byte{2}, 4096), bytes.Repeat([]byte{3}, 100_000)}
	if err := bs.SendBatch(ctx, payloads); err != nil {
		t.Fatal(err)
	}
	batch := make([]bench.Sensor, 64)
	if err := bs.SendSensorBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := a.Send(ctx, []byte("one more")); err != nil {
		t.Fatal(err)
	}
	want := uint64(sensors + len(payloads) + len(batch) + 1)
	if n, err := a.Flush(ctx); err != nil || n != want {
		t.Fatalf("Flush = %d, %v; want %d", n, err, want)
	}
	w1 := a.WireBytes()
	if min := uint64(sensors*16 + 4096 + 100_000 + 64*16); w1-w0 < min {
		t.Fatalf("WireBytes grew by %d, less than the %d payload bytes sent", w1-w0, min)
	}

	// Request/response traffic is not counted, and the other client has
	// its own count.
	if _, err := a.Echo(ctx, []byte("rr")); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("other client's Flush = %d, %v; want 0", n, err)
	}
	for range 5 {
		if err := b.SendSensor(ctx, bench.Sensor{}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := b.Flush(ctx); err != nil || n != 5 {
		t.Fatalf("other client's Flush = %d, %v; want 5", n, err)
	}
	if n, err := a.Flush(ctx); err != nil || n != want {
		t.Fatalf("Flush again = %d, %v; want still %d", n, err, want)
	}
	if w2 := a.WireBytes(); w2 <= w1 {
		t.Fatalf("WireBytes did not grow with more traffic: %d then %d", w1, w2)
	}
	// A new connection starts from zero.
	c := dialBinproto(t, ctx, tg)
	if n, err := c.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("new client's Flush = %d, %v; want 0", n, err)
	}
}

// TestBinprotoConcurrentClients runs many clients at once, as the
// realistic benchmark does, under the race detector.
func TestBinprotoConcurrentClients(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tg, _ := startBinproto(t, ctx, "")
	errc := make(chan error, 8)
	for i := range cap(errc) {
		go func() {
			errc <- func() error {
				c, err := tg.Dial(ctx)
				if err != nil {
					return err
				}
				defer c.Close()
				for j := range 20 + i {
					if err := c.Send(ctx, []byte{byte(j)}); err != nil {
						return err
					}
					if _, err := c.Echo(ctx, []byte{byte(i), byte(j)}); err != nil {
						return err
					}
				}
				n, err := c.Flush(ctx)
				if err == nil && n != uint64(20+i) {
					err = errors.New("wrong count")
				}
				return err
			}()
		}()
	}
	for range cap(errc) {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
}

// startBenchServer serves the benchmark protocol on a loopback port, as
// Serve does, and returns its address.
func startBenchServer(t *testing.T) string {
	t.Helper()
	p, err := Protocol(false, false)
	if err != nil {
		t.Fatal(err)
	}
	return testutil.ServeLoopback(t, NewServer(p))
}

func TestBinprotoExternalServer(t *testing.T) {
	ctx := testCtx(t, 20*time.Second)
	addr := startBenchServer(t)
	tg, ep := startBinproto(t, ctx, addr)
	if ep.Addr != addr || ep.Embedded {
		t.Fatalf("endpoint %+v, want %s not embedded", ep, addr)
	}
	c := dialBinproto(t, ctx, tg)
	if err := c.SendSensor(ctx, bench.Sensor{S1: 1}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("Flush = %d, %v; want 1", n, err)
	}
}

func TestBinprotoExternalServerErrors(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	// A closed port.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	// A binproto server of the quick-start types only (basic_server): it
	// accepts connections but knows no count request.
	qp, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	echoOnly := testutil.ServeLoopback(t, quickstart.EchoServer(qp))

	for _, c := range []struct{ addr, want string }{
		{closed, "does not answer"},
		{echoOnly, "does not answer"},
	} {
		tg := New(Config{Addr: c.addr})
		_, err := tg.Start(ctx)
		_ = tg.Close()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.addr) {
			t.Errorf("Start with Addr %s: %v, want an error naming the address with %q", c.addr, err, c.want)
		}
	}
}

// TestShared: callers sharing one client each get their own echo, and a
// slow call takes bench.SlowDelay, on the embedded server of DialShared and
// on an external server alike.
func TestShared(t *testing.T) {
	ctx := testCtx(t, 30*time.Second)
	tg, ep := startBinproto(t, ctx, "")
	testutil.CheckShared(ctx, t, tg.(bench.SharedDialer), 16)
	ext, _ := startBinproto(t, ctx, ep.Addr)
	testutil.CheckShared(ctx, t, ext.(bench.SharedDialer), 4)
}
