package binproto_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
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

func (l *flakyListener) Close() error   { l.once.Do(func() { close(l.closed) }); return nil }
func (l *flakyListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

type temporaryErr struct{}

func (temporaryErr) Error() string   { return "temporary trouble" }
func (temporaryErr) Temporary() bool { return true }

func acceptErr(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// Serve backs off and keeps accepting after running out of file descriptors
// (and the other temporary accept errors), as net/http does.
func TestReviewServeBacksOffOnTemporaryErrors(t *testing.T) {
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
func TestReviewServeReturnsOnPermanentError(t *testing.T) {
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
func TestReviewMaxConnectionsConcurrent(t *testing.T) {
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

// A UDP protocol's MaxPayloadSize leaves room in the datagram for the
// header, the length and the checksum, so that the largest message is sent.
func TestReviewUDPMaxPayloadFitsDatagram(t *testing.T) {
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

// A Protocol keeps its own copy of Types, in and out.
func TestReviewProtocolImmutable(t *testing.T) {
	types := quickTypes()
	p, err := binproto.NewProtocol(binproto.Config{Types: types})
	if err != nil {
		t.Fatal(err)
	}
	extra := schema.MustStructure(schema.Uint8("x"))
	types[50] = extra
	delete(types, SensorData)
	if p.Structure(50) != nil || p.Structure(SensorData) == nil {
		t.Error("changing the caller's map changed the Protocol")
	}
	cfg := p.Config()
	cfg.Types[51] = extra
	delete(cfg.Types, Status)
	if p.Structure(51) != nil || p.Structure(Status) == nil || len(p.Config().Types) != 4 {
		t.Error("changing Config().Types changed the Protocol")
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
func TestReviewTransportMismatch(t *testing.T) {
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
func TestReviewUDPPeerAfterWriteFailure(t *testing.T) {
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
func TestReviewUDPUnknownTypeRateLimited(t *testing.T) {
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

// A TokenAuth without an OK type would leave every client waiting: Serve
// refuses it.
func TestReviewTokenAuthNeedsOK(t *testing.T) {
	checkGoroutines(t)
	types := quickTypes()
	at := binproto.AuthTypes{Token: 10}
	at.Register(types)
	p, err := binproto.NewProtocol(binproto.Config{Types: types})
	if err != nil {
		t.Fatal(err)
	}
	srv := &binproto.Server{Protocol: p, Auth: &binproto.TokenAuth{Types: at, Tokens: map[string]string{"secret": "alice"}}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveAndExpectConfigError(t, "Serve with TokenAuth without OK", func() error { return srv.Serve(l) }, func() { srv.Close() })
}

func TestReviewNegativeMaxQueuedBytesOption(t *testing.T) {
	_, err := binproto.NewProtocol(binproto.Config{Types: quickTypes(), MaxQueuedBytes: -1})
	var ce *binproto.ConfigError
	if !errors.As(err, &ce) || ce.Option != "MaxQueuedBytes" {
		t.Errorf("err = %v, want a *ConfigError naming MaxQueuedBytes", err)
	}
	_, err = binproto.NewProtocol(binproto.Config{Types: quickTypes(), BufferSize: -1})
	if !errors.As(err, &ce) || ce.Option != "BufferSize" {
		t.Errorf("err = %v, want a *ConfigError naming BufferSize", err)
	}
}
