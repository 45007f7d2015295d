package httpjson

import (
	"bytes"
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
)

func started(t *testing.T, cfg Config) (*Target, bench.Endpoint) {
	t.Helper()
	tg := New(cfg)
	return tg, testutil.Start(context.Background(), t, tg)
}

func dial(t *testing.T, tg *Target) bench.Client {
	t.Helper()
	c, err := tg.Dial(context.Background())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestEmbeddedRoundTrips(t *testing.T) {
	tg, ep := started(t, Config{})
	if !ep.Embedded || !strings.HasPrefix(ep.Addr, "127.0.0.1:") || tg.Name() != DefaultName {
		t.Fatalf("endpoint %+v name %q", ep, tg.Name())
	}
	c := dial(t, tg)
	ctx := context.Background()
	tricky := []bench.Sensor{
		{S1: 0.1, S2: -0.2, S3: 1.0 / 3, S4: math.Pi},
		{S1: math.MaxFloat32, S2: math.SmallestNonzeroFloat32, S3: -0, S4: 16777217},
		{S1: 1e-38, S2: -3.4e38, S3: 123456.789, S4: 0},
	}
	for _, s := range tricky {
		got, err := c.Sensor(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if got != s {
			t.Fatalf("sensor %+v came back as %+v", s, got)
		}
	}
	for _, size := range []int{0, 1, 1000, 300000} {
		p := bytes.Repeat([]byte{0, 0xff, 7}, size/3+1)[:size]
		got, err := c.Echo(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, p) {
			t.Fatalf("echo of %d bytes differs", size)
		}
	}
	if c.WireBytes() < 2*300000 {
		t.Fatalf("wire bytes %d: the 300 kB echo alone is more", c.WireBytes())
	}
}

func TestOneWayCountsPerClient(t *testing.T) {
	tg, _ := started(t, Config{})
	a, b := dial(t, tg), dial(t, tg)
	ctx := context.Background()
	for i := range 5 {
		if err := a.SendSensor(ctx, bench.Sensor{S1: float32(i)}); err != nil {
			t.Fatal(err)
		}
		if err := a.Send(ctx, []byte("payload")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.Flush(ctx); err != nil || n != 10 {
		t.Fatalf("client a: %d, %v; want 10", n, err)
	}
	if n, err := b.Flush(ctx); err != nil || n != 1 {
		t.Fatalf("client b: %d, %v; want 1", n, err)
	}
	before := a.WireBytes()
	if err := a.Send(ctx, []byte("more")); err != nil {
		t.Fatal(err)
	}
	sent := a.WireBytes() - before
	// Request line, headers and a 204 status line: well over the payload.
	if sent < 100 || sent > 1000 {
		t.Fatalf("one-way message took %d wire bytes", sent)
	}
}

func TestExternalServer(t *testing.T) {
	srv := httptest.NewServer(NewHandler())
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	tg, ep := started(t, Config{Addr: addr, Name: "ext"})
	if ep.Embedded || ep.Addr != addr || tg.Name() != "ext" {
		t.Fatalf("endpoint %+v", ep)
	}
	c := dial(t, tg)
	if _, err := c.Echo(context.Background(), []byte("hello")); err != nil {
		t.Fatal(err)
	}

	dead := New(Config{Addr: "127.0.0.1:1"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := dead.Start(ctx); err == nil {
		t.Fatal("Start succeeded against a closed port")
	}
	if _, err := New(Config{}).Dial(ctx); err == nil {
		t.Fatal("Dial succeeded before Start")
	}
}
