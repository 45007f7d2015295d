package grpctarget

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/mem"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// start starts a target with addr ("" for an embedded server) and closes
// it when the test ends.
func start(ctx context.Context, t *testing.T, addr string) (*Target, bench.Endpoint) {
	t.Helper()
	tg := New(Config{Addr: addr})
	return tg, testutil.Start(ctx, t, tg)
}

// TestClientRoundTrips: sensor readings and payloads of every size come
// back as sent, one-way messages are counted by Flush across streams, and
// the wire bytes grow.
func TestClientRoundTrips(t *testing.T) {
	ctx := testCtx(t)
	tg, ep := start(ctx, t, "")
	if tg.Name() != Name || !ep.Embedded || !strings.HasPrefix(ep.Addr, "127.0.0.1:") {
		t.Fatalf("target %q at %+v", tg.Name(), ep)
	}
	c, err := tg.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := bench.Sensor{S1: 1.5, S2: -2.25, S3: 1e30, S4: 0}
	if got, err := c.Sensor(ctx, s); err != nil || got != s {
		t.Fatalf("Sensor: %+v, %v", got, err)
	}
	for _, size := range []int{0, 1, 1024, 64 << 10, 1 << 20} {
		p := bytes.Repeat([]byte{byte(size)}, size)
		if got, err := c.Echo(ctx, p); err != nil || !bytes.Equal(got, p) {
			t.Fatalf("Echo of %d bytes: %d bytes back, %v", size, len(got), err)
		}
	}
	if n, err := c.Flush(ctx); err != nil || n != 0 {
		t.Fatalf("Flush before any send: %d, %v", n, err)
	}
	var want uint64
	for round, count := range []int{3, 50} {
		for i := range count {
			if round == 0 {
				err = c.SendSensor(ctx, s)
			} else {
				err = c.Send(ctx, bytes.Repeat([]byte{1}, i*100))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		want += uint64(count)
		if n, err := c.Flush(ctx); err != nil || n != want {
			t.Fatalf("Flush after %d sends: %d, %v", want, n, err)
		}
	}
	if c.WireBytes() < 1<<21 {
		t.Errorf("wire bytes %d after echoing 1 MiB", c.WireBytes())
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Send(done, []byte("x")); err == nil {
		t.Error("Send with a done context succeeded")
	}
}

// TestShared: callers sharing one ClientConn each get their own echo, and
// a slow call takes bench.SlowDelay.
func TestShared(t *testing.T) {
	ctx := testCtx(t)
	tg, _ := start(ctx, t, "")
	testutil.CheckShared(ctx, t, tg, 16)
}

// TestExternalServer: a target with an address checks that the server
// answers and then measures it; a closed port fails Start.
func TestExternalServer(t *testing.T) {
	ctx := testCtx(t)
	_, ep := start(ctx, t, "")
	ext, extEp := start(ctx, t, ep.Addr)
	if extEp.Embedded || extEp.Addr != ep.Addr {
		t.Fatalf("external endpoint %+v", extEp)
	}
	c, err := ext.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, err := c.Echo(ctx, []byte("hi")); err != nil || string(got) != "hi" {
		t.Fatalf("Echo: %q, %v", got, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := New(Config{Addr: closed}).Start(short); err == nil || !strings.Contains(err.Error(), closed) {
		t.Fatalf("Start against a closed port: %v", err)
	}
	if _, err := New(Config{}).Dial(ctx); err == nil {
		t.Fatal("Dial before Start succeeded")
	}
}

// TestCodecRejectsOtherTypes: the codec moves Frames only.
func TestCodecRejectsOtherTypes(t *testing.T) {
	if _, err := (Codec{}).Marshal("text"); err == nil {
		t.Error("Marshal of a string succeeded")
	}
	if err := (Codec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer("x")}, new(string)); err == nil {
		t.Error("Unmarshal into a string succeeded")
	}
}

// FuzzCodec: whatever bytes a Frame holds, split however gRPC received
// them, come back unchanged, in the Frame's own slice when it is large
// enough.
func FuzzCodec(f *testing.F) {
	f.Add([]byte{}, 0)
	f.Add(bytes.Repeat([]byte{7}, 2000), 1000)
	f.Fuzz(func(t *testing.T, data []byte, split int) {
		out, err := (Codec{}).Marshal(&Frame{Data: data})
		if err != nil {
			t.Fatal(err)
		}
		wire := out.Materialize()
		out.Free()
		if !bytes.Equal(wire, data) {
			t.Fatalf("marshalled %d bytes as %d", len(data), len(wire))
		}
		k := 0
		if len(wire) > 0 {
			k = (split%len(wire) + len(wire)) % len(wire)
		}
		in := mem.BufferSlice{mem.SliceBuffer(wire[:k]), mem.SliceBuffer(wire[k:])}
		reuse := make([]byte, 0, 1500)
		f := Frame{Data: reuse}
		if err := (Codec{}).Unmarshal(in, &f); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f.Data, data) || len(data) <= cap(reuse) && len(data) > 0 && &f.Data[0] != &reuse[:1][0] {
			t.Fatalf("unmarshalled %d bytes as %d", len(data), len(f.Data))
		}
	})
}
