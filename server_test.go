package binproto_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// flakyListener returns errs from Accept in turn, then the conns sent on
// conns, until it is closed.
type flakyListener struct {
	mu     sync.Mutex
	errs   []error
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newFlakyListener(errs ...error) *flakyListener {
	return &flakyListener{errs: errs, conns: make(chan net.Conn, 1), closed: make(chan struct{})}
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	if len(l.errs) > 0 {
		err := l.errs[0]
		l.errs = l.errs[1:]
		l.mu.Unlock()
		return nil, err
	}
	l.mu.Unlock()
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *flakyListener) Close() error { l.once.Do(func() { close(l.closed) }); return nil }

func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type temporaryErr struct{}

func (temporaryErr) Error() string { return "temporary trouble" }

func (temporaryErr) Temporary() bool { return true }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Serve backs off and keeps accepting after running out of file descriptors
// (and the other temporary accept errors), as net/http does.
func TestServeBacksOffOnTemporaryErrors(t *testing.T) {
	checkGoroutines(t)
	l := newFlakyListener(acceptErr(syscall.EMFILE), acceptErr(syscall.EMFILE), acceptErr(syscall.ENFILE),
		acceptErr(syscall.ENOBUFS), acceptErr(syscall.ENOMEM), acceptErr(syscall.ECONNABORTED), temporaryErr{})
	srv := &binproto.Server{Protocol: quickProto(t, nil)}
	registerEcho(srv)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	a, b := net.Pipe()
	defer b.Close()
	l.conns <- a
	for srv.Stats().ConnectionsAccepted == 0 {
		select {
		case err := <-errc:
			t.Fatalf("Serve returned %v after a temporary accept error", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	cl := binproto.NewClient(srv.Protocol, b, nil)
	defer cl.Close()
	ctx := testCtx(t, 5*time.Second)
	in := sensor{1, 2, 3, 4}
	var out sensor
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out); err != nil || out != in {
		t.Fatalf("request: %+v, %v", out, err)
	}
	srv.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Close")
	}
}

// A permanent accept error still ends Serve.
func TestServeReturnsOnPermanentError(t *testing.T) {
	boom := errors.New("boom")
	srv := &binproto.Server{Protocol: quickProto(t, nil)}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(newFlakyListener(boom)) }()
	select {
	case err := <-errc:
		if !errors.Is(err, boom) {
			t.Errorf("Serve returned %v, want %v", err, boom)
		}
	case <-time.After(5 * time.Second):
		srv.Close()
		t.Fatal("Serve did not return on a permanent accept error")
	}
}

// MaxConnections holds under concurrent ServeConn calls: the check and the
// count are one atomic step.
func TestMaxConnectionsConcurrent(t *testing.T) {
	checkGoroutines(t)
	const limit, n = 2, 64
	for round := range 40 {
		srv := &binproto.Server{Protocol: quickProto(t, nil), MaxConnections: limit}
		var wg sync.WaitGroup
		start := make(chan struct{})
		peers := make([]net.Conn, 0, n)
		for range n {
			a, b := net.Pipe()
			peers = append(peers, b)
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				srv.ServeConn(a)
			}()
		}
		close(start)
		waitFor(t, 5*time.Second, "every connection served or rejected", func() bool {
			st := srv.Stats()
			return st.ConnectionsAccepted+st.ConnectionsRejected == n
		})
		st := srv.Stats()
		srv.Close()
		wg.Wait()
		for _, p := range peers {
			p.Close()
		}
		if st.ConnectionsAccepted > limit || st.ConnectionsActive > limit {
			t.Fatalf("round %d: %d connections accepted, %d active; MaxConnections is %d", round, st.ConnectionsAccepted, st.ConnectionsActive, limit)
		}
	}
}

// serveAndExpectConfigError runs serve, which must fail at once with a
// *ConfigError; if it serves instead, stop stops it.
func serveAndExpectConfigError(t *testing.T, what string, serve func() error, stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- serve() }()
	select {
	case err := <-errc:
		var ce *binproto.ConfigError
		if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) {
			t.Errorf("%s: %v, want a *ConfigError", what, err)
		}
	case <-time.After(2 * time.Second):
		stop()
		<-errc
		t.Errorf("%s: served instead of refusing", what)
	}
}

// TLS is not silently dropped over UDP, and ServePacket refuses a TCP
// protocol.
func TestTransportMismatch(t *testing.T) {
	checkGoroutines(t)
	srv := &binproto.Server{Protocol: udpProto(t), TLSConfig: &tls.Config{}}
	serveAndExpectConfigError(t, "ListenAndServe of UDP with TLSConfig", func() error { return srv.ListenAndServe("127.0.0.1:0") }, func() { srv.Close() })

	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &binproto.Server{Protocol: quickProto(t, nil)}
	serveAndExpectConfigError(t, "ServePacket of a TCP protocol", func() error { return srv2.ServePacket(pc) }, func() { srv2.Close() })
	if _, err := pc.WriteTo([]byte{0}, pc.LocalAddr()); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ServePacket left its PacketConn open: %v", err)
	}
}

// A typed handler can be called with a message from Protocol.ParseFrame, as in
// a unit test of the handler, and its reply encodes to the right frame.
func TestTypedHandlerOutsideDispatcher(t *testing.T) {
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

// A payload that does not decode (a length prefix inside it runs past the
// frame) closes the connection as malformed, and is not counted as a handler
// error, a peer's garbage not being one: in a typed handler and in a handler that
// returns Message.Fields' error, run in turn or concurrently.
func TestMalformedPayload(t *testing.T) {
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
