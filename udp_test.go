package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// serveUDP serves srv on a loopback UDP socket until the test ends; wait
// returns ServePacket's error.
func serveUDP(t *testing.T, srv *binproto.Server) (addr string, wait func() error) {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var serveErr error
	go func() { serveErr = srv.ServePacket(pc); close(done) }()
	wait = func() error {
		select {
		case <-done:
			return serveErr
		case <-time.After(2 * time.Second):
			return errors.New("ServePacket did not return within 2s")
		}
	}
	t.Cleanup(func() {
		srv.Close()
		if err := wait(); !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("ServePacket returned %v, want ErrServerClosed", err)
		}
	})
	return pc.LocalAddr().String(), wait
}

func udpProto(t *testing.T) *binproto.Protocol {
	return quickProto(t, func(c *binproto.Config) { c.Transport = binproto.UDP })
}

func TestUDPEcho(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	srv.Handle(FixedBenchmark, nil) // not found
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)

	in := sensor{1, 2, 3, 4}
	var out sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out); err != nil || out != in {
		t.Fatalf("sensor: %+v, %v", out, err)
	}
	for i := range 20 {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
	}
	var bd benchData
	data := bytes.Repeat([]byte("u"), 60_000)
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Benchmark, benchCodec, &benchData{data}), benchCodec, &bd); err != nil || !bytes.Equal(bd.Data, data) {
		t.Fatalf("60 kB datagram: %d bytes, %v", len(bd.Data), err)
	}
	_, err := cl.Request(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{1}))
	var nf *binproto.NotFoundError
	if !errors.As(err, &nf) || nf.Type != FixedBenchmark {
		t.Fatalf("unhandled type: %v, want a *NotFoundError", err)
	}
	if err := checkStatusEcho(ctx, cl, 99); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "server stats 24 in, 24 out, 1 not found", func() bool {
		s := srv.Stats()
		return s.MessagesIn == 24 && s.MessagesOut == 24 && s.NotFound == 1
	})
}

// TestUDPMalformed: malformed datagrams are dropped and counted; a good one
// afterwards is answered.
func TestUDPMalformed(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveUDP(t, srv)
	nc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	good, _ := p.AppendFrame(nil, statusMsg(7, "good"))
	bad := [][]byte{
		{0x00},                            // truncated header
		{0x00, 0x63, 1, 2, 3},             // unknown type 99
		append(bytes.Clone(good), 0),      // a trailing byte
		good[:len(good)-1],                // truncated payload
		{0x00, 0x03, 0xFF, 0xFF, 0xFF, 0}, // declared length over the maximum
	}
	for _, b := range bad {
		nc.Write(b)
	}
	waitFor(t, 2*time.Second, "dropped datagrams", func() bool { return srv.Stats().DatagramsDropped == uint64(len(bad)) })
	// The unknown type alone is answered: a datagram delimits its frame,
	// so NOT_FOUND (the header alone) is safe to send, as Python does.
	nc.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 1500)
	n, err := nc.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte{0xff, 0xff}) {
		t.Fatalf("reply to the unknown type: %x, %v; want ffff", buf[:n], err)
	}
	nc.Write(good)
	n, err = nc.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], good) {
		t.Fatalf("reply %x, %v; want %x", buf[:n], err, good)
	}
	waitFor(t, 2*time.Second, "server stats 1 in, 2 out", func() bool {
		s := srv.Stats()
		return s.MessagesIn == 1 && s.MessagesOut == 2 && s.NotFound == 1
	})
}

// TestUDPLostReply: a request whose reply never comes fails at its deadline
// and the next request still gets its own reply.
func TestUDPLostReply(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	srv.HandleFunc(FixedBenchmark, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
		return binproto.NoReply, nil
	})
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := cl.Request(short, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{})); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered request: %v, want DeadlineExceeded", err)
	}
	for i := range 5 {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
	}
}

// TestUDPBatch sends a batch as one datagram per message.
func TestUDPBatch(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	var count atomic.Int64
	binproto.HandleTyped(srv, SensorData, sensorCodec, func(context.Context, *binproto.Conn, *sensor) (binproto.Outgoing, error) {
		count.Add(1)
		return binproto.NoReply, nil
	})
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	vs := make([]sensor, 100)
	if err := binproto.SendBatchTyped(ctx, cl, SensorData, sensorCodec, vs); err != nil {
		t.Fatal(err)
	}
	if err := binproto.SendSingle(ctx, p, addr, binproto.Typed(SensorData, sensorCodec, &vs[0]), nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "101 datagrams", func() bool { return count.Load() == 101 })
	if cs := cl.Stats(); cs.MessagesOut != 100 {
		t.Errorf("client sent %d messages, want 100", cs.MessagesOut)
	}
}

// TestUDPShutdown: Shutdown ends ServePacket with ErrServerClosed.
func TestUDPShutdown(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, wait := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	if err := checkStatusEcho(ctx, cl, 1); err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wait(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("ServePacket returned %v, want ErrServerClosed", err)
	}
}

// TestUDPHandlerContextEndsWithServer: a UDP handler's context is
// cancelled when the packet server closes, as a TCP handler's is.
func TestUDPHandlerContextEndsWithServer(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	ctxs := make(chan context.Context, 1)
	srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		select {
		case ctxs <- ctx:
		default:
		}
		return binproto.Msg(Status, map[string]any{"status_code": 1, "message": "ok"}), nil
	})
	addr, wait := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(1, "hi")); err != nil {
		t.Fatal(err)
	}
	hctx := <-ctxs
	if hctx.Err() != nil {
		t.Fatal("handler context done while the server runs")
	}
	srv.Close()
	if err := wait(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Fatalf("ServePacket: %v", err)
	}
	select {
	case <-hctx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("handler context not cancelled after Close")
	}
}

// A UDP protocol's MaxPayloadSize leaves room in the datagram for the
// header, the length and the checksum, so that the largest message is sent.
func TestUDPMaxPayloadFitsDatagram(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) {
		c.Transport = binproto.UDP
		c.Checksum = binproto.CRC32
		c.MaxPayloadSize = 1 << 20
	})
	const want = 65507 - 2 - 4 - 4 // header ">H", length, CRC-32
	if got := p.Config().MaxPayloadSize; got != want {
		t.Fatalf("MaxPayloadSize = %d, want %d", got, want)
	}
	if got := p.Framing().Overhead(true) + p.Config().MaxPayloadSize; got > 65507 {
		t.Fatalf("largest frame is %d bytes, over a datagram", got)
	}
	srv := &binproto.Server{Protocol: p}
	var got atomic.Int64
	srv.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		got.Store(int64(len(m.Payload)))
		return binproto.NoReply, nil
	})
	addr, _ := serveUDP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	big := binproto.Typed(Benchmark, benchCodec, &benchData{make([]byte, want-4)})
	if err := cl.Send(ctx, big); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the largest datagram", func() bool { return got.Load() == want })
	// The client connection survived the write.
	if err := cl.Send(ctx, big); err != nil {
		t.Fatalf("second send: %v", err)
	}
}

// failingWrites fails the first fail writes of a PacketConn.
type failingWrites struct {
	net.PacketConn
	fail atomic.Int32
}

func (f *failingWrites) WriteTo(b []byte, addr net.Addr) (int, error) {
	if f.fail.Add(-1) >= 0 {
		return 0, errors.New("injected write failure")
	}
	return f.PacketConn.WriteTo(b, addr)
}

// udpRaw returns a UDP socket connected to addr, closed when the test ends.
func udpRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

// countReplies reads datagrams from nc until d passes without one.
func countReplies(nc net.Conn, d time.Duration) int {
	n := 0
	buf := make([]byte, 64<<10)
	for {
		nc.SetReadDeadline(time.Now().Add(d))
		if _, err := nc.Read(buf); err != nil {
			return n
		}
		n++
	}
}

// A UDP peer whose reply failed to send is served again by a fresh Conn,
// not by the closed one.
func TestUDPPeerAfterWriteFailure(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fw := &failingWrites{PacketConn: pc}
	fw.fail.Store(1)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServePacket(fw) }()
	defer func() {
		srv.Close()
		if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("ServePacket returned %v", err)
		}
	}()
	nc := udpRaw(t, pc.LocalAddr().String())
	frame, err := p.AppendFrame(nil, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{7}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(frame); err != nil {
		t.Fatal(err)
	}
	// The reply failed to send once failingWrites has failed it: there is
	// nothing to wait for.
	waitFor(t, 10*time.Second, "the failed reply", func() bool { return fw.fail.Load() <= 0 })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := nc.Write(frame); err != nil {
			t.Fatal(err)
		}
		if countReplies(nc, 100*time.Millisecond) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the peer is never answered again after one failed write")
		}
	}
}

// Unknown types over UDP are answered NOT_FOUND only within the rate limits.
func TestUDPUnknownTypeRateLimited(t *testing.T) {
	checkGoroutines(t)
	p := udpProto(t)
	srv := &binproto.Server{Protocol: p, RateLimit: binproto.RateLimit{ConnMessageRate: 1, Burst: time.Second}}
	addr, _ := serveUDP(t, srv)
	nc := udpRaw(t, addr)
	const sent = 8
	for range sent {
		if _, err := nc.Write([]byte{0x00, 0x63}); err != nil { // type 99: unknown
			t.Fatal(err)
		}
	}
	// Every datagram was either answered or refused; then read the answers
	// the server counted.
	waitFor(t, 10*time.Second, "every datagram handled", func() bool {
		st := srv.Stats()
		return st.NotFound+st.RateLimited == sent
	})
	st := srv.Stats()
	if st.NotFound == 0 || st.NotFound > 2 || st.RateLimited < sent-2 {
		t.Errorf("%d NOT_FOUND replies, %d rate limited, to %d unknown-type datagrams at 1 message/s", st.NotFound, st.RateLimited, sent)
	}
	buf := make([]byte, 64<<10)
	for i := range st.NotFound {
		nc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := nc.Read(buf); err != nil || n != 2 || buf[0] != 0xFF || buf[1] != 0xFF {
			t.Fatalf("NOT_FOUND reply %d: %x, %v", i, buf[:n], err)
		}
	}
}
