package binproto_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// tlsStatusServer answers Status with the TLS version its handler sees.
func tlsStatusServer(t *testing.T, cfg *tls.Config) (*binproto.Protocol, *binproto.Server, string) {
	t.Helper()
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, TLSConfig: cfg}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		st, ok := m.Conn.TLSState()
		if !ok || !st.HandshakeComplete {
			return statusMsg(0, "plain"), nil
		}
		return statusMsg(int(st.Version), tls.VersionName(st.Version)), nil
	})
	addr, _ := serveTCP(t, srv)
	return p, srv, addr
}

func TestTLSState(t *testing.T) {
	p, _, addr := tlsStatusServer(t, serverTLS(t))
	ctx := testCtx(t, 5*time.Second)
	for _, max := range []uint16{0, tls.VersionTLS12} {
		cfg := clientTLS(t)
		cfg.MaxVersion = max
		cl := dial(t, p, addr, &binproto.ClientOptions{TLSConfig: cfg})
		var st status
		if _, err := binproto.RequestTyped(ctx, cl, statusMsg(0, ""), statusCodec, &st); err != nil {
			t.Fatal(err)
		}
		want := uint16(tls.VersionTLS13)
		if max != 0 {
			want = max
		}
		if st.Code != uint32(want) {
			t.Errorf("handler saw %q (%#x), want %s", st.Message, st.Code, tls.VersionName(want))
		}
		if cs, ok := cl.Conn().TLSState(); !ok || cs.Version != want {
			t.Errorf("client TLS state: %v, version %#x", ok, cs.Version)
		}
	}
}

// TestTLSFloor: TLS 1.2 is the minimum on both sides, even when a config
// asks for less (Go would otherwise negotiate TLS 1.1 with these configs).
func TestTLSFloor(t *testing.T) {
	cfg := serverTLS(t)
	cfg.MinVersion = tls.VersionTLS10
	p, srv, addr := tlsStatusServer(t, cfg)
	old := clientTLS(t)
	old.MinVersion, old.MaxVersion = tls.VersionTLS10, tls.VersionTLS11

	// A raw TLS 1.1 client: the server refuses it.
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: old}
	if c, err := d.DialContext(testCtx(t, 5*time.Second), "tcp", addr); err == nil {
		c.Close()
		t.Fatal("the server accepted a TLS 1.1 handshake")
	} else {
		t.Logf("TLS 1.1 client: %v", err)
	}
	waitFor(t, 2*time.Second, "the refused connection to close", func() bool { return srv.Stats().ConnectionsActive == 0 })

	// binproto's client with the same config cannot connect either.
	if _, err := binproto.Dial(testCtx(t, 5*time.Second), p, addr, &binproto.ClientOptions{TLSConfig: old}); err == nil {
		t.Fatal("a TLS 1.1 client connected")
	}

	// The client side has the same floor: it refuses a TLS 1.1 server.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sc := serverTLS(t)
	sc.MinVersion, sc.MaxVersion = tls.VersionTLS10, tls.VersionTLS11
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(nc, sc)
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake()
		tc.Close()
	}()
	lenient := clientTLS(t)
	lenient.MinVersion = tls.VersionTLS10
	if _, err := binproto.Dial(testCtx(t, 5*time.Second), p, l.Addr().String(), &binproto.ClientOptions{TLSConfig: lenient}); err == nil {
		t.Fatal("the client accepted a TLS 1.1 server")
	}
	<-accepted
}

func TestTLSUntrusted(t *testing.T) {
	p, _, addr := tlsStatusServer(t, serverTLS(t))
	_, err := binproto.Dial(testCtx(t, 5*time.Second), p, addr, &binproto.ClientOptions{TLSConfig: &tls.Config{}})
	if err == nil {
		t.Fatal("a client without the test CA connected")
	}
}

// TestTLSPlainClient: a plain-TCP client of a TLS server is closed as
// malformed and its request fails.
func TestTLSPlainClient(t *testing.T) {
	p, srv, addr := tlsStatusServer(t, serverTLS(t))
	cl := dial(t, p, addr, nil)
	if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(1, "x")); !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("plain request to a TLS server: %v, want ErrConnClosed", err)
	}
	waitFor(t, 2*time.Second, "malformed close", func() bool { return closeCount(srv, binproto.CloseMalformed) == 1 })
}

// TestTLSServeConn: ServeConn wraps a plain connection in TLS when the
// server has a TLSConfig.
func TestTLSServeConn(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, TLSConfig: serverTLS(t)}
	registerEcho(srv)
	a, b := net.Pipe()
	served := make(chan struct{})
	go func() { srv.ServeConn(a); close(served) }()
	cfg := clientTLS(t)
	cfg.ServerName = "127.0.0.1"
	cl := binproto.NewClient(p, tls.Client(b, cfg), nil)
	if err := checkStatusEcho(testCtx(t, 5*time.Second), cl, 4); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	select {
	case <-served:
	case <-time.After(2 * time.Second):
		t.Fatal("ServeConn did not return")
	}
	if s := srv.Stats(); s.ConnectionsAccepted != 1 || s.ConnectionsActive != 0 {
		t.Errorf("stats: %+v", s)
	}
}

// TestTLSHandshakeTimeoutIsReadTimeout: a TLS client that connects and
// TestTLSHandshakeTimeout: a TLS handshake has its own deadline,
// Server.HandshakeTimeout, shorter than ReadTimeout: a peer that connects
// and stalls the handshake (here: sends nothing, or a ClientHello's first
// bytes) is closed when it expires, counted as a read timeout. It used to
// get the whole ReadTimeout (30 s by default) and hold a slot meanwhile.
func TestTLSHandshakeTimeout(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.ReadTimeout = time.Minute })
	srv := &binproto.Server{Protocol: p, TLSConfig: serverTLS(t), HandshakeTimeout: 200 * time.Millisecond}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	silent := rawDial(t, addr)
	hello := rawDial(t, addr)
	hello.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc}) // a ClientHello begun
	readUntilEOF(t, silent, 10*time.Second)
	readUntilEOF(t, hello, 10*time.Second)
	waitFor(t, 10*time.Second, "read_timeout closes", func() bool { return closeCount(srv, binproto.CloseReadTimeout) == 2 })
	if n := closeCount(srv, binproto.CloseIdleTimeout); n != 0 {
		t.Errorf("%d idle_timeout closes, want 0", n)
	}
}
