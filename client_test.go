package binproto_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// rawServer accepts one connection on a loopback listener and runs serve
// on it; the returned channel gives serve's error.
func rawServer(t *testing.T, serve func(nc net.Conn) error) (addr string, done <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		l.Close()
		if err != nil {
			errc <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard
		errc <- serve(nc)
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), errc
}

// TestClientUnknownType: a server that sends a message of a type the
// client's Config.Types does not have. Nothing says how long its payload
// is, so the client cannot skip it: it closes the connection, and the
// pending request fails at once with ErrConnClosed wrapping
// ErrUnknownType (it does not hang until its context ends); so do later
// requests ("binproto: connection closed: binproto: unknown message type
// 66"), and the close is counted as CloseUnknownType. Checked with the direct-mode client (the caller reads its own
// reply) and with the background reader (push handlers set).
func TestClientUnknownType(t *testing.T) {
	const unknown = 0x42
	for _, background := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "background"}[background], func(t *testing.T) {
			checkGoroutines(t)
			p := quickProto(t, nil)
			if p.Structure(unknown) != nil {
				t.Fatalf("type %#x is configured", unknown)
			}
			req, _ := p.AppendFrame(nil, statusMsg(1, "first"))
			addr, srvDone := rawServer(t, func(nc net.Conn) error {
				if _, err := io.ReadFull(nc, make([]byte, len(req))); err != nil {
					return err
				}
				// The header (">H") of the unconfigured type, then bytes
				// the client cannot frame.
				if _, err := nc.Write([]byte{0, unknown, 0, 0, 0, 4, 1, 2, 3, 4}); err != nil {
					return err
				}
				// The client closes the connection: EOF, and nothing sent.
				n, err := nc.Read(make([]byte, 1))
				if n != 0 || !errors.Is(err, io.EOF) {
					return errors.New("the client did not close the connection")
				}
				return nil
			})
			var opts *binproto.ClientOptions
			if background {
				opts = &binproto.ClientOptions{Handlers: map[binproto.MessageType]binproto.Handler{
					SensorData: binproto.HandlerFunc(func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
						return binproto.NoReply, nil
					}),
				}}
			}
			cl := dial(t, p, addr, opts)
			_, err := cl.Request(testCtx(t, 20*time.Second), statusMsg(1, "first"))
			if !errors.Is(err, binproto.ErrConnClosed) || !errors.Is(err, binproto.ErrUnknownType) {
				t.Fatalf("request answered with an unknown type: %v, want ErrConnClosed wrapping ErrUnknownType", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the request waited for its context: %v", err)
			}
			select {
			case <-cl.Conn().Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the connection is not closed")
			}
			if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(2, "second")); !errors.Is(err, binproto.ErrConnClosed) {
				t.Errorf("request after the connection closed: %v, want ErrConnClosed", err)
			}
			if err := <-srvDone; err != nil {
				t.Errorf("raw server: %v", err)
			}
			if s := cl.Stats(); s.MessagesIn != 0 || s.Closes[binproto.CloseUnknownType] != 1 {
				t.Errorf("client Stats.MessagesIn = %d, Closes = %v; want 0 and one %v", s.MessagesIn, s.Closes, binproto.CloseUnknownType)
			}
		})
	}
}

// TestDialUDPWithTLSIsConfigError: TLS is never silently dropped.
func TestDialUDPWithTLSIsConfigError(t *testing.T) {
	p := quickProto(t, func(c *binproto.Config) { c.Transport = binproto.UDP })
	_, err := binproto.Dial(testCtx(t, 2*time.Second), p, "127.0.0.1:9", &binproto.ClientOptions{TLSConfig: clientTLS(t)})
	var ce *binproto.ConfigError
	if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) {
		t.Fatalf("Dial UDP with TLS: %v, want a *ConfigError", err)
	}
}

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
func TestClientPipelineSmallQueue(t *testing.T) {
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

func TestErrConnClosedAfterWriteFailure(t *testing.T) {
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
func TestClosedErrorOneLine(t *testing.T) {
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
func TestClientCloseFromPushHandler(t *testing.T) {
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
