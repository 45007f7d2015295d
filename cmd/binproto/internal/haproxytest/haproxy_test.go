package haproxytest

import (
	"context"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/testutil"
	"github.com/binproto/binproto/quickstart"
)

// binary returns haproxy's path. Without it the test fails when
// RequireEnv is set (CI), and is skipped, saying why, otherwise.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv(RequireEnv) != "" {
			t.Fatalf("%v, and %s is set", err, RequireEnv)
		}
		t.Skipf("%v; %s unset, so skipping (scripts/test.sh installs it)", err, RequireEnv)
	}
	return bin
}

// backend is one binproto server behind HAProxy.
type backend struct {
	srv  *binproto.Server
	addr string
}

// setup starts three servers with the given PROXY protocol settings and
// per-IP connection limit, and HAProxy in front of them with balance; all
// stop when the test ends.
func setup(t *testing.T, pp binproto.ProxyProtocol, maxPerIP int, balance string) (*binproto.Protocol, []backend, *Proxy) {
	t.Helper()
	bin := binary(t)
	if l, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Fatalf("cannot bind 127.0.0.2, which the clients dial from: %v", err)
	} else {
		l.Close()
	}
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var backends []backend
	var addrs []string
	for range 3 {
		srv := &binproto.Server{Protocol: p, ProxyProtocol: pp, RateLimit: binproto.RateLimit{MaxConnsPerIP: maxPerIP}}
		binproto.HandleTyped(srv, quickstart.Status, quickstart.StatusCodec,
			func(_ context.Context, c *binproto.Conn, _ *quickstart.StatusMsg) (binproto.Outgoing, error) {
				return binproto.Typed(quickstart.Status, quickstart.StatusCodec, &quickstart.StatusMsg{Code: 200, Message: c.RemoteAddr().String()}), nil
			})
		addr := testutil.ServeLoopback(t, srv)
		backends = append(backends, backend{srv, addr})
		addrs = append(addrs, addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	hp, err := Start(ctx, bin, t.TempDir(), Config{Backends: addrs, Balance: balance})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("haproxy output:\n%s", hp.Stop())
			return
		}
		hp.Stop()
	})
	return p, backends, hp
}

// client dials addr from the local IP from; the client and its local
// address, closed when the test ends.
func client(t *testing.T, p *binproto.Protocol, addr, from string) (*binproto.Client, net.Addr) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	nc, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cl := binproto.NewClient(p, nc, nil)
	t.Cleanup(func() { cl.Close() })
	return cl, nc.LocalAddr()
}

// seen asks the server behind cl which address it sees.
func seen(cl *binproto.Client) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out quickstart.StatusMsg
	_, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.Status, quickstart.StatusCodec, &quickstart.StatusMsg{Code: 1}), quickstart.StatusCodec, &out)
	return out.Message, err
}

func closes(bs []backend, r binproto.CloseReason) (n uint64) {
	for _, b := range bs {
		n += b.srv.Stats().Closes[r]
	}
	return n
}

// waitCloses waits up to 5 s until the servers together counted n closes
// for r.
func waitCloses(t *testing.T, bs []backend, r binproto.CloseReason, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for closes(bs, r) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d closes for %s, want %d", closes(bs, r), r, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := closes(bs, r); got != n {
		t.Errorf("%d closes for %s, want %d", got, r, n)
	}
}

var trustLoopback = binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// TestHAProxyClientAddress: through HAProxy (send-proxy-v2, round robin
// over three servers), every server sees each client's own address and
// port, not HAProxy's.
func TestHAProxyClientAddress(t *testing.T) {
	p, bs, hp := setup(t, trustLoopback, 0, "roundrobin")
	for i := range 6 {
		from := []string{"127.0.0.2", "127.0.0.3"}[i%2]
		cl, local := client(t, p, hp.Addr, from)
		got, err := seen(cl)
		if err != nil || got != local.String() {
			t.Fatalf("client %d from %v: the server sees %q, %v", i, local, got, err)
		}
	}
	for i, b := range bs {
		if n := b.srv.Stats().ConnectionsAccepted; n != 2 {
			t.Errorf("server %d accepted %d connections, want 2 (round robin over 3)", i+1, n)
		}
	}
	if n := closes(bs, binproto.CloseProxyHeader); n != 0 {
		t.Errorf("%d closes for proxy_header, want 0", n)
	}
}

// TestHAProxyPerIPLimit: a per-IP connection limit applies to the client's
// address behind HAProxy (balance source: one client address, one
// server), and not to HAProxy's own.
func TestHAProxyPerIPLimit(t *testing.T) {
	p, bs, hp := setup(t, binproto.ProxyProtocol{Mode: binproto.ProxyRequired}, 2, "source")
	for i := range 2 {
		cl, _ := client(t, p, hp.Addr, "127.0.0.2")
		if _, err := seen(cl); err != nil {
			t.Fatalf("connection %d from 127.0.0.2: %v", i+1, err)
		}
	}
	over, _ := client(t, p, hp.Addr, "127.0.0.2")
	if got, err := seen(over); err == nil {
		t.Fatalf("third connection from 127.0.0.2 served (the server sees %s), want refused", got)
	}
	waitCloses(t, bs, binproto.CloseLimit, 1)
	for i := range 2 {
		cl, local := client(t, p, hp.Addr, "127.0.0.3")
		if got, err := seen(cl); err != nil || got != local.String() {
			t.Fatalf("connection %d from 127.0.0.3: the server sees %q, %v", i+1, got, err)
		}
	}
	var rejected uint64
	for _, b := range bs {
		rejected += b.srv.Stats().ConnectionsRejected
	}
	if rejected != 1 {
		t.Errorf("%d connections rejected, want 1", rejected)
	}
}

// TestHAProxyUntrusted: servers that trust only 127.0.0.5 refuse the
// header HAProxy sends from 127.0.0.1, counting each as proxy_header.
func TestHAProxyUntrusted(t *testing.T) {
	pp := binproto.ProxyProtocol{Mode: binproto.ProxyTrusted, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.5/32")}}
	p, bs, hp := setup(t, pp, 0, "roundrobin")
	for i := range 3 {
		cl, _ := client(t, p, hp.Addr, "127.0.0.2")
		if got, err := seen(cl); err == nil {
			t.Fatalf("connection %d served (the server sees %s), want refused", i+1, got)
		}
	}
	waitCloses(t, bs, binproto.CloseProxyHeader, 3)
	for _, b := range bs {
		if st := b.srv.Stats(); st.MessagesIn != 0 {
			t.Errorf("a server read %d messages, want none", st.MessagesIn)
		}
	}
}

// TestDeployConfig: the configuration in deploy/haproxy, which the README
// tells users to run, is valid and draws no warning from haproxy -c.
func TestDeployConfig(t *testing.T) {
	bin := binary(t)
	out, err := exec.Command(bin, "-c", "-f", filepath.Join("..", "..", "..", "..", "deploy", "haproxy", "haproxy.cfg")).CombinedOutput()
	if err != nil || strings.Contains(string(out), "WARNING") {
		t.Fatalf("haproxy -c: %v\n%s", err, out)
	}
}
