package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// pipeServer serves srv on one end of a net.Pipe until the test ends and
// returns the other end.
func pipeServer(t *testing.T, srv *binproto.Server) net.Conn {
	t.Helper()
	a, b := net.Pipe()
	done := make(chan struct{})
	go func() { srv.ServeConn(b); close(done) }()
	t.Cleanup(func() {
		srv.Close()
		a.Close()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Error("ServeConn did not return within 2s")
		}
	})
	return a
}

// Pipelined requests on a client whose outbound queue is small, over a
// connection with no buffering (net.Pipe), to a server that writes each
// reply before reading on: a request waiting for queue room must not hold
// the lock the read loop needs to match replies, or nothing moves until
// the write timeout.
func TestReviewClientPipelineSmallQueue(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.MaxQueuedBytes = 64 })
	srv := &binproto.Server{Protocol: p}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		time.Sleep(50 * time.Microsecond) // slow to read on
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		return binproto.Msg(Status, f), nil
	})
	cl := binproto.NewClient(p, pipeServer(t, srv), nil)
	defer cl.Close()

	ctx := testCtx(t, 10*time.Second)
	const workers, each = 32, 25
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				msg := fmt.Sprintf("w%d-%d-%s", w, i, strings.Repeat("x", 40))
				m, err := cl.Request(ctx, statusMsg(i, msg))
				if err != nil {
					errs <- fmt.Errorf("request %d/%d: %w", w, i, err)
					return
				}
				f, err := m.Fields()
				if err != nil || f["message"] != msg {
					errs <- fmt.Errorf("request %d/%d: reply %v, %v", w, i, f, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// failWriteConn is a connection whose writes fail.
type failWriteConn struct{ net.Conn }

func (failWriteConn) Write([]byte) (int, error) { return 0, errors.New("boom") }

func TestReviewErrConnClosedAfterWriteFailure(t *testing.T) {
	if !errors.Is(binproto.ErrConnClosed, net.ErrClosed) {
		t.Error("errors.Is(ErrConnClosed, net.ErrClosed) = false")
	}
	p := quickProto(t, nil)
	a, b := net.Pipe()
	defer b.Close()
	cl := binproto.NewClient(p, failWriteConn{a}, nil)
	defer cl.Close()
	err := cl.SendBatch(testCtx(t, 5*time.Second), statusMsg(1, "x"))
	if !errors.Is(err, binproto.ErrConnClosed) || !errors.Is(err, net.ErrClosed) || !strings.Contains(fmt.Sprint(err), "boom") {
		t.Errorf("SendBatch after a failed write: %v; want it to wrap ErrConnClosed, net.ErrClosed and the write's error", err)
	}
	// Later calls fail the same way.
	if err := cl.SendBatch(testCtx(t, 5*time.Second), statusMsg(1, "x")); !errors.Is(err, binproto.ErrConnClosed) {
		t.Errorf("second SendBatch: %v, want ErrConnClosed", err)
	}
}

// A pending request fails with a one-line error wrapping ErrConnClosed and
// the read loop's error when the server breaks off inside a frame.
func TestReviewClosedErrorOneLine(t *testing.T) {
	p := quickProto(t, nil)
	a, b := net.Pipe()
	defer b.Close()
	go func() {
		buf := make([]byte, 256)
		b.Read(buf)
		full, _ := p.AppendFrame(nil, statusMsg(1, "hello"))
		b.Write(full[:len(full)-2])
		b.Close()
	}()
	cl := binproto.NewClient(p, a, nil)
	defer cl.Close()
	_, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(1, "x"))
	if !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("Request: %v, want ErrConnClosed", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error spans lines: %q", err)
	}
}

// Client.Close called from a push handler returns rather than waiting for
// the read loop the handler runs on.
func TestReviewClientCloseFromPushHandler(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{7}), nil
	})
	var cl *binproto.Client
	closed := make(chan error, 1)
	opts := &binproto.ClientOptions{Handlers: map[binproto.MessageType]binproto.Handler{
		FixedBenchmark: binproto.HandlerFunc(func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
			closed <- cl.Close()
			return binproto.NoReply, nil
		}),
	}}
	cl = binproto.NewClient(p, pipeServer(t, srv), opts)
	if err := cl.Send(testCtx(t, 5*time.Second), statusMsg(1, "push me")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Client.Close from a push handler did not return")
	}
	select {
	case <-cl.Conn().Done():
	case <-time.After(2 * time.Second):
		t.Fatal("read loop did not exit after the push handler returned")
	}
	if err := cl.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// hookConn calls onFar, once, when a read deadline more than 5 s away is
// about to be set (the whole-frame ReadTimeout), and reports the near ones.
type hookConn struct {
	net.Conn
	once  sync.Once
	onFar func()
	near  chan struct{} // receives when a deadline under 1 s away is set
}

func (h *hookConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		switch d := time.Until(t); {
		case d > 5*time.Second:
			h.once.Do(h.onFar)
		case d < time.Second:
			select {
			case h.near <- struct{}{}:
			default:
			}
		}
	}
	return h.Conn.SetReadDeadline(t)
}

// Shutdown starting while the read loop arms the whole-frame deadline for a
// partial frame: the drain deadline must win, or the connection waits out
// ReadTimeout.
func TestReviewDrainWinsOverPartialFrame(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.ReadTimeout = 30 * time.Second })
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	a, b := net.Pipe()
	defer a.Close()
	shut := make(chan error, 1)
	hc := &hookConn{Conn: b, near: make(chan struct{}, 1)}
	hc.onFar = func() {
		// Shutdown begins (and sets its drain deadline) just before the
		// read loop sets the whole-frame deadline.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			shut <- srv.Shutdown(ctx)
		}()
		select {
		case <-hc.near:
		case <-time.After(500 * time.Millisecond):
		}
	}
	served := make(chan struct{})
	go func() { srv.ServeConn(hc); close(served) }()
	frame, _ := p.AppendFrame(nil, statusMsg(1, "half of me"))
	if _, err := a.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v, want nil (the drain deadline ends the partial frame)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	srv.Close()
	<-served
	if n := closeCount(srv, binproto.CloseShutdown); n != 1 {
		t.Errorf("%d shutdown closes, want 1; stats %+v", n, srv.Stats())
	}
}

// Concurrent handlers still running are requests in flight: the idle
// timeout must not close their connection, and applies again once they are
// done.
func TestReviewIdleTimeoutSparesInFlight(t *testing.T) {
	checkGoroutines(t)
	const idle = 100 * time.Millisecond
	p := quickProto(t, func(c *binproto.Config) { c.IdleTimeout = idle })
	srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: 4}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		time.Sleep(4 * idle)
		f, err := m.Fields()
		return binproto.Msg(Status, f), err
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := checkStatusEcho(ctx, cl, i); err != nil {
				t.Errorf("request %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	start := time.Now()
	select {
	case <-cl.Conn().Done():
	case <-time.After(2 * time.Second):
		t.Fatal("idle connection not closed after its requests completed")
	}
	if d := time.Since(start); d < idle/2 {
		t.Errorf("closed %v after the last reply, want about %v", d, idle)
	}
	waitFor(t, 2*time.Second, "idle close", func() bool { return closeCount(srv, binproto.CloseIdleTimeout) == 1 })
}

// A datagram connection sends one frame per datagram even when the
// Protocol is not configured for UDP.
func TestReviewNoCoalesceOnDatagramConn(t *testing.T) {
	p := quickProto(t, nil) // TCP transport
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	nc, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	cl := binproto.NewClient(p, nc, nil)
	defer cl.Close()
	ctx := testCtx(t, 5*time.Second)
	const n = 100
	for i := range n {
		if err := cl.Conn().Send(ctx, statusMsg(i, "datagram")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64<<10)
	pc.SetReadDeadline(time.Now().Add(2 * time.Second))
	for i := range n {
		m, _, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		msg, err := p.ParseFrame(buf[:m])
		if err != nil {
			t.Fatalf("datagram %d (%d bytes) is not one frame: %v", i, m, err)
		}
		if f, err := msg.Fields(); err != nil || f["status_code"] != uint64(i) {
			t.Fatalf("datagram %d: %v, %v", i, f, err)
		}
	}
}

// A typed handler can be called with a message from Protocol.ParseFrame, as in
// a unit test of the handler, and its reply encodes to the right frame.
func TestReviewTypedHandlerOutsideDispatcher(t *testing.T) {
	p := quickProto(t, nil)
	frame, err := p.AppendFrame(nil, binproto.Typed(SensorData, sensorCodec, &sensor{1, 2, 3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	m, err := p.ParseFrame(frame)
	if err != nil {
		t.Fatal(err)
	}
	h := binproto.NewTypedHandler(sensorCodec, func(_ context.Context, _ *binproto.Conn, s *sensor) (binproto.Outgoing, error) {
		s.S1 *= 10
		return binproto.Typed(SensorData, sensorCodec, s), nil
	})
	out, err := h.ServeMessage(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.AppendFrame(nil, out)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := p.AppendFrame(nil, binproto.Typed(SensorData, sensorCodec, &sensor{10, 2, 3, 4}))
	if string(got) != string(want) {
		t.Errorf("reply frame %x, want %x", got, want)
	}
}

// A payload that does not decode closes the connection as malformed, and is
// not counted as a handler error: in a typed handler and in a handler that
// returns Message.Fields' error, run in turn or concurrently.
func TestReviewMalformedPayload(t *testing.T) {
	for _, conc := range []int{0, 4} {
		for _, typed := range []bool{false, true} {
			t.Run(fmt.Sprintf("typed=%v/conc=%d", typed, conc), func(t *testing.T) {
				p := quickProto(t, nil)
				srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: conc}
				if typed {
					binproto.HandleTyped(srv, Status, statusCodec, func(_ context.Context, _ *binproto.Conn, s *status) (binproto.Outgoing, error) {
						return binproto.Typed(Status, statusCodec, s), nil
					})
				} else {
					registerEcho(srv) // Status: returns m.Fields' error
				}
				addr, _ := serveTCP(t, srv)
				// A status whose message length runs past the frame.
				frame := []byte{0x00, byte(Status), 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0x03, 0xe8}
				nc := rawDial(t, addr)
				nc.Write(frame)
				readUntilEOF(t, nc, 3*time.Second)
				waitFor(t, 2*time.Second, "malformed close", func() bool { return closeCount(srv, binproto.CloseMalformed) == 1 })
				if s := srv.Stats(); s.HandlerErrors != 0 {
					t.Errorf("HandlerErrors = %d, want 0", s.HandlerErrors)
				}
			})
		}
	}
}
