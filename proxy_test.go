package binproto_test

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// proxyServer serves a quick-start protocol (with the authentication
// types) whose Status handler answers the connection's remote address.
func proxyServer(t *testing.T, setup func(*binproto.Server)) (*binproto.Protocol, *binproto.Server, string) {
	t.Helper()
	p := authProto(t, nil)
	srv := &binproto.Server{Protocol: p, ProxyProtocol: binproto.ProxyProtocol{Mode: binproto.ProxyRequired}}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return statusMsg(200, m.Conn.RemoteAddr().String()), nil
	})
	if setup != nil {
		setup(srv)
	}
	addr, _ := serveTCP(t, srv)
	return p, srv, addr
}

// remoteOf asks the server of cl which address it sees.
func remoteOf(t testing.TB, cl *binproto.Client) (string, error) {
	t.Helper()
	reply, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(1, ""))
	if err != nil {
		return "", err
	}
	f, err := reply.Fields()
	if err != nil {
		t.Fatal(err)
	}
	return f["message"].(string), nil
}

// v1Header and v2Header are PROXY headers for a TCP connection from src.
func v1Header(src string) []byte {
	ap := netip.MustParseAddrPort(src)
	fam := "TCP4"
	if ap.Addr().Is6() {
		fam = "TCP6"
	}
	dst := "127.0.0.1"
	if ap.Addr().Is6() {
		dst = "::1"
	}
	return []byte("PROXY " + fam + " " + ap.Addr().String() + " " + dst + " " + itoa(ap.Port()) + " 7000\r\n")
}

func itoa(p uint16) string {
	return netip.AddrPortFrom(netip.IPv4Unspecified(), p).String()[len("0.0.0.0:"):]
}

func v2Header(src string) []byte {
	ap := netip.MustParseAddrPort(src)
	b := []byte("\r\n\r\n\x00\r\nQUIT\n\x21")
	if ap.Addr().Is4() {
		b = append(b, 0x11, 0, 12)
		b = append(b, ap.Addr().AsSlice()...)
		b = append(b, 127, 0, 0, 1)
	} else {
		b = append(b, 0x21, 0, 36)
		b = append(b, ap.Addr().AsSlice()...)
		b = append(b, netip.IPv6Loopback().AsSlice()...)
	}
	b = binary.BigEndian.AppendUint16(b, ap.Port())
	return binary.BigEndian.AppendUint16(b, 7000)
}

// headerConn dials addr from the local IP from ("": any), writes header and
// returns the connection, closed when the test ends.
func headerConn(t testing.TB, addr, from string, header []byte) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if len(header) > 0 {
		if _, err := nc.Write(header); err != nil {
			t.Fatal(err)
		}
	}
	return nc
}

// proxiedClient is a client whose connection begins with header.
func proxiedClient(t testing.TB, p *binproto.Protocol, addr, from string, header []byte, opts *binproto.ClientOptions) *binproto.Client {
	t.Helper()
	cl := binproto.NewClient(p, headerConn(t, addr, from, header), opts)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// TestProxyHeaderAddress: the address of a v1 or v2 header is the
// connection's address, for headers alone, written together with the first
// frame (the bytes read past the header are frames), and for a LOCAL one.
func TestProxyHeaderAddress(t *testing.T) {
	checkLeaks(t)
	p, srv, addr := proxyServer(t, nil)
	tests := []struct {
		name   string
		header []byte
		want   string
	}{
		{"v1 tcp4", v1Header("203.0.113.7:4242"), "203.0.113.7:4242"},
		{"v1 tcp6", v1Header("[2001:db8::7]:4242"), "[2001:db8::7]:4242"},
		{"v2 tcp4", v2Header("198.51.100.9:1"), "198.51.100.9:1"},
		{"v2 tcp6", v2Header("[2001:db8::9]:65535"), "[2001:db8::9]:65535"},
		{"v1 unknown keeps the own address", []byte("PROXY UNKNOWN\r\n"), "127.0.0.1:"},
		{"v2 local keeps the own address", []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"), "127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := remoteOf(t, proxiedClient(t, p, addr, "", tt.header, nil))
			if err != nil || got != tt.want && !(tt.want == "127.0.0.1:" && strings.HasPrefix(got, tt.want)) {
				t.Fatalf("server sees %q, %v; want %q", got, err, tt.want)
			}
		})
		t.Run(tt.name+", with the first frame", func(t *testing.T) {
			frame, err := p.AppendFrame(append([]byte(nil), tt.header...), statusMsg(1, "x"))
			if err != nil {
				t.Fatal(err)
			}
			nc := headerConn(t, addr, "", frame)
			cl := binproto.NewClient(p, nc, nil)
			defer cl.Close()
			if _, err := cl.Receive(testCtx(t, 5*time.Second)); err != nil { // the reply to the frame sent with the header
				t.Fatal(err)
			}
			if _, err := remoteOf(t, cl); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := closeCount(srv, binproto.CloseProxyHeader); n != 0 {
		t.Errorf("%d closes for proxy_header, want 0", n)
	}
}

// TestProxyHeaderRefused: a missing or malformed header closes the
// connection before anything is served, counted as CloseProxyHeader.
func TestProxyHeaderRefused(t *testing.T) {
	checkLeaks(t)
	p, srv, addr := proxyServer(t, nil)
	frame, _ := p.AppendFrame(nil, statusMsg(1, "x"))
	tests := []struct {
		name   string
		header []byte
	}{
		{"no header, a frame", frame},
		{"v1 without CRLF", []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n")},
		{"v1 bad address", []byte("PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n")},
		{"v2 bad version", []byte("\r\n\r\n\x00\r\nQUIT\n\x31\x11\x00\x0c")},
		{"v2 over the length bound", []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x04\x00")},
		{"TLS ClientHello", []byte{0x16, 0x03, 0x01, 0x00, 0x10}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := headerConn(t, addr, "", tt.header)
			if got := readUntilEOF(t, nc, 5*time.Second); len(got) != 0 {
				t.Errorf("the server wrote %x", got)
			}
			waitClose(t, srv, binproto.CloseProxyHeader, uint64(i+1))
		})
	}
	if st := srv.Stats(); st.ConnectionsAccepted != 0 || st.MessagesIn != 0 {
		t.Errorf("accepted %d, messages in %d; want none", st.ConnectionsAccepted, st.MessagesIn)
	}
}

// TestProxyHeaderTimeout: a connection that sends no header is closed
// after ProxyProtocol.Timeout, and one that closes or resets first is a
// peer close, as is a health check's LOCAL header followed by a reset.
func TestProxyHeaderTimeout(t *testing.T) {
	checkLeaks(t)
	_, srv, addr := proxyServer(t, func(s *binproto.Server) { s.ProxyProtocol.Timeout = 50 * time.Millisecond })
	readUntilEOF(t, headerConn(t, addr, "", []byte("PROXY TCP4 1.2")), 5*time.Second)
	waitClose(t, srv, binproto.CloseReadTimeout, 1)
	headerConn(t, addr, "", nil).Close()
	waitClose(t, srv, binproto.ClosePeer, 1)
	reset := headerConn(t, addr, "", nil) // as HAProxy's health checks end
	reset.(*net.TCPConn).SetLinger(0)
	reset.Close()
	waitClose(t, srv, binproto.ClosePeer, 2)
	// HAProxy's health checks: a LOCAL header, then a reset.
	check := headerConn(t, addr, "", []byte("\r\n\r\n\x00\r\nQUIT\n\x20\x00\x00\x00"))
	waitFor(t, 3*time.Second, "the check to be served", func() bool { return srv.Stats().ConnectionsAccepted == 1 })
	check.(*net.TCPConn).SetLinger(0)
	check.Close()
	waitClose(t, srv, binproto.ClosePeer, 3)
	if n := closeCount(srv, binproto.CloseReadError); n != 0 {
		t.Errorf("%d closes for read_error, want 0", n)
	}
	if n := closeCount(srv, binproto.CloseProxyHeader); n != 0 {
		t.Errorf("%d closes for proxy_header, want 0", n)
	}
}

// TestProxyTrusted: with ProxyTrusted, a trusted source must send a header
// and gets its address from it; another source is served with its own
// address and is refused if it sends a header.
func TestProxyTrusted(t *testing.T) {
	checkLeaks(t)
	if !canBindBystander() {
		t.Skip("cannot bind 127.0.0.2 (loopback aliases are needed)")
	}
	p, srv, addr := proxyServer(t, func(s *binproto.Server) {
		s.ProxyProtocol = binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	})
	if got, err := remoteOf(t, proxiedClient(t, p, addr, "127.0.0.1", v2Header("192.0.2.1:9"), nil)); err != nil || got != "192.0.2.1:9" {
		t.Errorf("trusted source with a header: server sees %q, %v", got, err)
	}
	nc := headerConn(t, addr, "127.0.0.2", nil)
	if got, err := remoteOf(t, binproto.NewClient(p, nc, nil)); err != nil || got != nc.LocalAddr().String() {
		t.Errorf("untrusted source without a header: server sees %q, %v; want %v", got, err, nc.LocalAddr())
	}
	for i, h := range [][]byte{v1Header("192.0.2.1:9"), v2Header("192.0.2.1:9")} {
		nc := headerConn(t, addr, "127.0.0.2", h)
		if got := readUntilEOF(t, nc, 5*time.Second); len(got) != 0 {
			t.Errorf("the server wrote %x", got)
		}
		waitClose(t, srv, binproto.CloseProxyHeader, uint64(i+1))
	}
	// A trusted source without a header is refused too.
	frame, _ := p.AppendFrame(nil, statusMsg(1, "x"))
	readUntilEOF(t, headerConn(t, addr, "127.0.0.1", frame), 5*time.Second)
	waitClose(t, srv, binproto.CloseProxyHeader, 3)
}

// TestProxyPerIPLimits: MaxConnsPerIP counts the clients' addresses from
// the headers, not the balancer's.
func TestProxyPerIPLimits(t *testing.T) {
	checkLeaks(t)
	p, srv, addr := proxyServer(t, func(s *binproto.Server) { s.RateLimit.MaxConnsPerIP = 1 })
	first := proxiedClient(t, p, addr, "", v2Header("192.0.2.1:1"), nil)
	if _, err := remoteOf(t, first); err != nil {
		t.Fatal(err)
	}
	second := proxiedClient(t, p, addr, "", v2Header("192.0.2.1:2"), nil)
	if _, err := remoteOf(t, second); !isClosedErr(err) {
		t.Errorf("second connection from one client address: %v, want closed", err)
	}
	waitClose(t, srv, binproto.CloseLimit, 1)
	other := proxiedClient(t, p, addr, "", v2Header("192.0.2.2:1"), nil)
	if got, err := remoteOf(t, other); err != nil || got != "192.0.2.2:1" {
		t.Errorf("another client address: %q, %v", got, err)
	}
	if st := srv.Stats(); st.ConnectionsRejected != 1 {
		t.Errorf("rejected %d, want 1", st.ConnectionsRejected)
	}
}

// TestProxyTLSAndHMAC: the header comes before the TLS handshake, and
// before the HMAC challenge the server sends first.
func TestProxyTLSAndHMAC(t *testing.T) {
	checkLeaks(t)
	p, _, addr := proxyServer(t, func(s *binproto.Server) {
		s.TLSConfig = serverTLS(t)
		s.Auth = hmacAuth()
	})
	for _, h := range [][]byte{v1Header("192.0.2.5:5"), v2Header("[2001:db8::5]:5")} {
		cfg := clientTLS(t).Clone()
		cfg.ServerName = "127.0.0.1"
		tc := tls.Client(headerConn(t, addr, "", h), cfg)
		opts := hmacCreds("carol", hmacSecret)
		cl := binproto.NewClient(p, tc, opts)
		t.Cleanup(func() { cl.Close() })
		if err := opts.Auth.Authenticate(testCtx(t, 5*time.Second), cl); err != nil {
			t.Fatal(err)
		}
		got, err := remoteOf(t, cl)
		want := netip.MustParseAddrPort("192.0.2.5:5").String()
		if h[0] != 'P' {
			want = "[2001:db8::5]:5"
		}
		if err != nil || got != want {
			t.Errorf("server sees %q, %v; want %q", got, err, want)
		}
	}
}

// TestProxyServeConn: ServeConn reads the header on the caller's goroutine.
func TestProxyServeConn(t *testing.T) {
	checkLeaks(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, ProxyProtocol: binproto.ProxyProtocol{Mode: binproto.ProxyRequired}}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return statusMsg(200, m.Conn.RemoteAddr().String()), nil
	})
	defer srv.Close()
	a, b := net.Pipe()
	served := make(chan struct{})
	go func() { srv.ServeConn(a); close(served) }()
	if _, err := b.Write(v1Header("192.0.2.8:8")); err != nil { // taken whole by the server's first read
		t.Fatal(err)
	}
	cl := binproto.NewClient(p, b, nil)
	if got, err := remoteOf(t, cl); err != nil || got != "192.0.2.8:8" {
		t.Errorf("server sees %q, %v", got, err)
	}
	cl.Close()
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return")
	}
}

// TestProxyShutdown: a connection still in its header is closed by
// Shutdown, which does not wait for it.
func TestProxyShutdown(t *testing.T) {
	checkLeaks(t)
	srv := &binproto.Server{Protocol: quickProto(t, nil), ProxyProtocol: binproto.ProxyProtocol{Mode: binproto.ProxyRequired}}
	a, b := net.Pipe()
	defer b.Close()
	served := make(chan struct{})
	go func() { srv.ServeConn(a); close(served) }()
	if _, err := b.Write([]byte("PROXY ")); err != nil { // returns once the server has read it
		t.Fatal(err)
	}
	if err := srv.Shutdown(testCtx(t, 5*time.Second)); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-served:
	case <-time.After(5 * time.Second):
		t.Fatal("ServeConn did not return after Shutdown")
	}
	if n := closeCount(srv, binproto.CloseShutdown); n != 1 {
		t.Errorf("%d closes for shutdown, want 1", n)
	}
}

func TestProxyConfig(t *testing.T) {
	p := quickProto(t, nil)
	tests := []struct {
		name string
		pp   binproto.ProxyProtocol
	}{
		{"trusted without networks", binproto.ProxyProtocol{Mode: binproto.ProxyTrusted}},
		{"networks without trusted", binproto.ProxyProtocol{Mode: binproto.ProxyRequired, Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"networks when off", binproto.ProxyProtocol{Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}},
		{"invalid network", binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{{}}}},
		{"unknown mode", binproto.ProxyProtocol{Mode: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &binproto.Server{Protocol: p, ProxyProtocol: tt.pp}
			err = srv.Serve(l)
			var ce *binproto.ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, binproto.ErrInvalidConfig) {
				t.Fatalf("Serve: %v, want a *ConfigError", err)
			}
		})
	}
}

// A server behind HAProxy (`server s1 10.0.0.5:7700 send-proxy-v2`):
// connections from the balancers' network must begin with a PROXY header
// and take the client's address from it; clients connecting directly are
// served with their own address and may not send one.
func ExampleProxyProtocol() {
	proto, _ := binproto.NewProtocol(binproto.Config{Types: quickTypes()})
	srv := &binproto.Server{
		Protocol: proto,
		ProxyProtocol: binproto.ProxyProtocol{
			Mode:    binproto.ProxyTrusted,
			Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24")},
		},
		RateLimit: binproto.RateLimit{MaxConnsPerIP: 64}, // per client, not per balancer
	}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return statusMsg(200, m.Conn.RemoteAddr().String()), nil // the client's address
	})
	go srv.ListenAndServe("10.0.0.5:7700")
	defer srv.Close()
}

// TestProxyNative: a native-profile client behind a PROXY header: the
// server reads the header, then recognises the profile.
func TestProxyNative(t *testing.T) {
	checkLeaks(t)
	p, _, addr := proxyServer(t, nil)
	for _, h := range [][]byte{v1Header("192.0.2.9:9"), v2Header("192.0.2.9:9")} {
		cl := proxiedClient(t, p, addr, "", h, &binproto.ClientOptions{Profile: binproto.ProfileNative})
		if got, err := remoteOf(t, cl); err != nil || got != "192.0.2.9:9" {
			t.Errorf("server sees %q, %v", got, err)
		}
	}
}
