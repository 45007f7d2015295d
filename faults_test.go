package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// faultServer starts an echo server for the quick-start protocol adjusted by
// mod, with extra setup, and checks the goroutines when the test ends.
func faultServer(t *testing.T, mod func(*binproto.Config), setup func(*binproto.Server)) (*binproto.Protocol, *binproto.Server, string) {
	t.Helper()
	checkGoroutines(t)
	p := quickProto(t, mod)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	if setup != nil {
		setup(srv)
	}
	addr, _ := serveTCP(t, srv)
	return p, srv, addr
}

// expectClose reads nc until the server closes it and checks that the
// server counted one close for reason r.
func expectClose(t *testing.T, srv *binproto.Server, nc net.Conn, r binproto.CloseReason) []byte {
	t.Helper()
	got := readUntilEOF(t, nc, 10*time.Second)
	waitFor(t, 10*time.Second, "close reason "+string(r), func() bool { return closeCount(srv, r) == 1 })
	return got
}

func TestFaultTooLarge(t *testing.T) {
	_, srv, addr := faultServer(t, nil, nil)
	nc := rawDial(t, addr)
	nc.Write([]byte{0x00, byte(Benchmark), 0xFF, 0xFF, 0xFF, 0xFF, 1, 2, 3})
	if got := expectClose(t, srv, nc, binproto.CloseTooLarge); len(got) != 0 {
		t.Errorf("server answered %x", got)
	}
}

func TestFaultChecksum(t *testing.T) {
	p, srv, addr := faultServer(t, func(c *binproto.Config) { c.Checksum = binproto.CRC32 }, nil)
	good, err := p.AppendFrame(nil, binproto.Typed(SensorData, sensorCodec, &sensor{1, 2, 3, 4}))
	if err != nil {
		t.Fatal(err)
	}
	nc := rawDial(t, addr)
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 1
	nc.Write(append(bytes.Clone(good), bad...))
	if got := expectClose(t, srv, nc, binproto.CloseChecksum); !bytes.Equal(got, good) {
		t.Errorf("got %x, want the echo of the good frame %x only", got, good)
	}
}

func TestFaultReadTimeout(t *testing.T) {
	const rt = 200 * time.Millisecond
	p, srv, addr := faultServer(t, func(c *binproto.Config) { c.ReadTimeout = rt }, nil)

	// A frame that begins and never ends is cut off after ReadTimeout.
	nc := rawDial(t, addr)
	start := time.Now()
	nc.Write([]byte{0x00})
	expectClose(t, srv, nc, binproto.CloseReadTimeout)
	if d := time.Since(start); d < rt*3/4 { // not before ReadTimeout (load only delays)
		t.Errorf("dripping connection closed after %v, before ReadTimeout %v", d, rt)
	}

	// ReadTimeout bounds a frame, not the silence between frames.
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	for i := range 2 {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(rt * 3 / 2)
	}
}

func TestFaultIdleTimeout(t *testing.T) {
	const it = 300 * time.Millisecond
	_, srv, addr := faultServer(t, func(c *binproto.Config) { c.IdleTimeout = it }, nil)
	p := quickProto(t, nil) // the client does not idle out itself
	nc := rawDial(t, addr)
	start := time.Now()
	expectClose(t, srv, nc, binproto.CloseIdleTimeout)
	if d := time.Since(start); d < it*3/4 { // not before IdleTimeout (load only delays)
		t.Errorf("idle connection closed after %v, before IdleTimeout %v", d, it)
	}

	// A connection that keeps talking stays open past IdleTimeout.
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	for i := range 8 {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
		time.Sleep(it / 6)
	}
	if n := closeCount(srv, binproto.CloseIdleTimeout); n != 1 {
		t.Errorf("%d idle closes, want 1", n)
	}
}

// TestClientIgnoresIdleTimeout: IdleTimeout is a server setting; a client
// waiting for pushes on a protocol that sets it keeps its connection.
func TestClientIgnoresIdleTimeout(t *testing.T) {
	const it = 100 * time.Millisecond
	_, _, addr := faultServer(t, nil, nil)
	p := quickProto(t, func(c *binproto.Config) { c.IdleTimeout = it })
	cl := dial(t, p, addr, nil)
	time.Sleep(4 * it)
	ctx := testCtx(t, 5*time.Second)
	if err := checkStatusEcho(ctx, cl, 1); err != nil {
		t.Fatalf("client connection after %v idle: %v", 4*it, err)
	}
}

// TestFaultSlowReader: a client that sends requests and never reads the
// replies is disconnected once a write times out.
func TestFaultSlowReader(t *testing.T) {
	_, srv, addr := faultServer(t, func(c *binproto.Config) {
		c.WriteTimeout = 300 * time.Millisecond
		c.MaxQueuedBytes = 64 << 10
	}, nil)
	p := quickProto(t, nil)
	req, err := p.AppendFrame(nil, binproto.Typed(Benchmark, benchCodec, &benchData{make([]byte, 64<<10)}))
	if err != nil {
		t.Fatal(err)
	}
	nc := rawDial(t, addr)
	nc.(*net.TCPConn).SetReadBuffer(4096)
	start := time.Now()
	for {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := nc.Write(req); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("server never disconnected the slow reader: %v", err)
			}
			break
		}
	}
	waitFor(t, 3*time.Second, "write_error close", func() bool { return closeCount(srv, binproto.CloseWriteError) == 1 })
	t.Logf("disconnected after %v", time.Since(start))
	waitFor(t, 2*time.Second, "no active connection", func() bool { return srv.Stats().ConnectionsActive == 0 })
}

func TestFaultHandlerPanicAndError(t *testing.T) {
	for _, c := range []struct {
		msg    string
		reason binproto.CloseReason
	}{{"panic", binproto.CloseHandlerPanic}, {"error", binproto.CloseHandlerError}} {
		t.Run(c.msg, func(t *testing.T) {
			p, srv, addr := faultServer(t, nil, func(srv *binproto.Server) {
				srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
					f, err := m.Fields()
					switch f["message"] {
					case "panic":
						panic("boom")
					case "error":
						return binproto.NoReply, errors.New("handler failed")
					}
					return binproto.Msg(Status, f), err
				})
			})
			ctx := testCtx(t, 5*time.Second)
			victim, other := dial(t, p, addr, nil), dial(t, p, addr, nil)
			if err := checkStatusEcho(ctx, other, 1); err != nil {
				t.Fatal(err)
			}
			if _, err := victim.Request(ctx, statusMsg(0, c.msg)); !errors.Is(err, binproto.ErrConnClosed) {
				t.Fatalf("request whose handler failed: %v, want ErrConnClosed", err)
			}
			if _, err := victim.Request(ctx, statusMsg(0, "again")); !errors.Is(err, binproto.ErrConnClosed) {
				t.Fatalf("request on the closed connection: %v, want ErrConnClosed", err)
			}
			if err := checkStatusEcho(ctx, other, 3); err != nil {
				t.Fatalf("other client: %v", err)
			}
			waitFor(t, 2*time.Second, string(c.reason), func() bool { return closeCount(srv, c.reason) == 1 })
			s := srv.Stats()
			if c.reason == binproto.CloseHandlerPanic && s.HandlerPanics != 1 || c.reason == binproto.CloseHandlerError && s.HandlerErrors != 1 {
				t.Errorf("stats: %d panics, %d errors", s.HandlerPanics, s.HandlerErrors)
			}
		})
	}
}

func TestMaxConnections(t *testing.T) {
	p, srv, addr := faultServer(t, nil, func(srv *binproto.Server) { srv.MaxConnections = 2 })
	ctx := testCtx(t, 5*time.Second)
	a, b := dial(t, p, addr, nil), dial(t, p, addr, nil)
	for i, cl := range []*binproto.Client{a, b} {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
	}
	nc := rawDial(t, addr)
	req, _ := p.AppendFrame(nil, statusMsg(1, "x"))
	nc.Write(req)
	// No timeout is set: a close at all, for CloseLimit, is the rejection.
	if got := expectClose(t, srv, nc, binproto.CloseLimit); len(got) != 0 {
		t.Errorf("rejected connection got %x", got)
	}
	if s := srv.Stats(); s.ConnectionsRejected != 1 || s.ConnectionsAccepted != 2 || s.ConnectionsActive != 2 {
		t.Errorf("stats: %d rejected, %d accepted, %d active", s.ConnectionsRejected, s.ConnectionsAccepted, s.ConnectionsActive)
	}
	for i, cl := range []*binproto.Client{a, b} {
		if err := checkStatusEcho(ctx, cl, 10+i); err != nil {
			t.Fatalf("client %d after the rejection: %v", i, err)
		}
	}
	a.Close()
	waitFor(t, 2*time.Second, "one active connection", func() bool { return srv.Stats().ConnectionsActive == 1 })
	if err := checkStatusEcho(ctx, dial(t, p, addr, nil), 20); err != nil {
		t.Fatalf("new client once below the limit: %v", err)
	}
}

// TestConnDiesFailsPending: when the connection dies every pending request
// fails at once, not at its deadline.
func TestConnDiesFailsPending(t *testing.T) {
	for _, how := range []string{"server closes", "client closes"} {
		t.Run(how, func(t *testing.T) {
			conns := make(chan *binproto.Conn, 1)
			p, _, addr := faultServer(t, nil, func(srv *binproto.Server) {
				srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
					conns <- m.Conn
					<-ctx.Done()
					return binproto.NoReply, ctx.Err()
				})
			})
			cl := dial(t, p, addr, nil)
			ctx := testCtx(t, 10*time.Second)
			const n = 20
			errs := make(chan error, n)
			for i := range n {
				go func() { _, err := cl.Request(ctx, statusMsg(i, "wait")); errs <- err }()
			}
			var sc *binproto.Conn
			select {
			case sc = <-conns:
			case <-ctx.Done():
				t.Fatal("handler never ran")
			}
			waitFor(t, 10*time.Second, "all requests sent", func() bool { return cl.Stats().MessagesOut == n })
			want := binproto.ErrConnClosed
			if how == "server closes" {
				sc.Close()
			} else {
				want = binproto.ErrClientClosed
				cl.Close()
			}
			// A request failing at its deadline would fail with
			// DeadlineExceeded: these fail with the close.
			for range n {
				if err := <-errs; !errors.Is(err, want) {
					t.Errorf("pending request: %v, want %v", err, want)
				}
			}
			if _, err := cl.Request(ctx, statusMsg(0, "late")); !errors.Is(err, want) {
				t.Errorf("request after the close: %v, want %v", err, want)
			}
		})
	}
}

// TestClientInputErrors: a message that cannot be encoded fails its own
// call only; the connection stays usable.
func TestClientInputErrors(t *testing.T) {
	p, srv, addr := faultServer(t, func(c *binproto.Config) { c.MaxPayloadSize = 1024 }, func(srv *binproto.Server) {
		srv.HandleFunc(FixedBenchmark, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
			return binproto.Typed(Benchmark, benchCodec, &benchData{make([]byte, 2000)}), nil // too large to send
		})
	})
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	cases := []struct {
		name string
		out  binproto.Outgoing
		want error
	}{
		{"missing field", binproto.Msg(Status, map[string]any{"status_code": 1}), schema.ErrMissingField},
		{"negative for >I", statusMsg(-1, "x"), binproto.ErrRange},
		{"too big for >I", binproto.Msg(Status, map[string]any{"status_code": int64(1 << 33), "message": "x"}), binproto.ErrRange},
		{"wrong Go type", binproto.Msg(Status, map[string]any{"status_code": "1", "message": "x"}), schema.ErrType},
		{"invalid UTF-8", binproto.Typed(Status, statusCodec, &status{1, "\xff"}), schema.ErrInvalidUTF8},
		{"unknown type", binproto.Msg(77, map[string]any{}), binproto.ErrUnknownType},
		{"codec of another shape", binproto.Typed(Status, sensorCodec, &sensor{}), binproto.ErrStructureMismatch},
		{"over MaxPayloadSize", binproto.Typed(Benchmark, benchCodec, &benchData{make([]byte, 1025)}), binproto.ErrTooLarge},
	}
	for i, c := range cases {
		if _, err := cl.Request(ctx, c.out); !errors.Is(err, c.want) {
			t.Errorf("Request, %s: %v, want %v", c.name, err, c.want)
		}
		if err := cl.Send(ctx, c.out); !errors.Is(err, c.want) {
			t.Errorf("Send, %s: %v, want %v", c.name, err, c.want)
		}
		if err := cl.SendBatch(ctx, statusMsg(1, "fine"), c.out); !errors.Is(err, c.want) {
			t.Errorf("SendBatch, %s: %v, want %v", c.name, err, c.want)
		}
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatalf("after %s: %v", c.name, err)
		}
	}
	if s := srv.Stats(); s.MessagesIn != uint64(len(cases)) {
		t.Errorf("server received %d messages, want only the %d good ones", s.MessagesIn, len(cases))
	}
	// A handler's reply over MaxPayloadSize is a handler error: the
	// connection closes.
	if _, err := cl.Request(ctx, binproto.Typed(FixedBenchmark, fixedCodec, &fixedBench{})); !errors.Is(err, binproto.ErrConnClosed) {
		t.Errorf("request with an oversized reply: %v, want ErrConnClosed", err)
	}
	waitFor(t, 2*time.Second, "handler_error close", func() bool { return closeCount(srv, binproto.CloseHandlerError) == 1 })
}

// TestFaultTruncatedStream: a peer that closes inside a frame is a peer
// close; the replies to its earlier frames are still delivered.
func TestFaultTruncatedStream(t *testing.T) {
	p, srv, addr := faultServer(t, nil, nil)
	req, _ := p.AppendFrame(nil, statusMsg(4, "whole"))
	nc := rawDial(t, addr)
	nc.Write(append(bytes.Clone(req), req[:5]...))
	nc.(*net.TCPConn).CloseWrite()
	if got := expectClose(t, srv, nc, binproto.ClosePeer); !bytes.Equal(got, req) {
		t.Errorf("got %x, want %x", got, req)
	}
}

// TestManyClientsConcurrently runs several clients against one server at
// once.
func TestManyClientsConcurrently(t *testing.T) {
	p, srv, addr := faultServer(t, nil, nil)
	ctx := testCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 8*50)
	for c := range 8 {
		cl := dial(t, p, addr, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				errs <- checkStatusEcho(ctx, cl, c*1000+i)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if s := srv.Stats(); s.MessagesIn != 400 || s.ConnectionsAccepted != 8 {
		t.Errorf("server: %d messages, %d connections", s.MessagesIn, s.ConnectionsAccepted)
	}
}

// Concurrent handlers still running are requests in flight: the idle
// timeout must not close their connection, and applies again once they are
// done.
func TestIdleTimeoutSparesInFlight(t *testing.T) {
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
	cl := dial(t, p, addr, &binproto.ClientOptions{AlwaysRead: true}) // Done reports the close while idle
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
