package main

import (
	"context"
	"errors"
	"flag"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/examples/internal/exampletest"
	"github.com/binproto/binproto/quickstart"
)

// TestLimitFlags: the defaults are the hardened ones, and every flag
// reaches the limits.
func TestLimitFlags(t *testing.T) {
	parse := func(args ...string) *limits {
		t.Helper()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		l := defaultLimits()
		l.addFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return l
	}
	want := limits{maxConnsPerIP: 256, idleTimeout: 5 * time.Minute, maxPayload: 1 << 20, maxBuffered: 64 << 20, connMsgRate: 20000, connByteRate: 64 << 20, connRatePerIP: 50}
	if got := parse(); *got != want {
		t.Errorf("defaults %+v, want %+v", *got, want)
	}
	got := parse("--max-conns", "2", "--max-conns-per-ip", "3", "--idle-timeout", "1s", "--max-payload", "64KiB",
		"--max-buffered", "-1", "--conn-msg-rate", "0", "--conn-byte-rate", "1MiB", "--conn-rate-per-ip", "7", "--token", "0123456789abcdef")
	want = limits{maxConns: 2, maxConnsPerIP: 3, idleTimeout: time.Second, maxPayload: 64 << 10, maxBuffered: -1, connByteRate: 1 << 20, connRatePerIP: 7, token: "0123456789abcdef"}
	if *got != want {
		t.Errorf("parsed %+v, want %+v", *got, want)
	}
	var srv binproto.Server
	got.apply(&srv)
	if srv.MaxConnections != 2 || srv.MaxBufferedBytes != -1 || srv.RateLimit.MaxConnsPerIP != 3 ||
		srv.RateLimit.ConnMessageRate != 0 || srv.RateLimit.ConnByteRate != 1<<20 || srv.RateLimit.IPConnRate != 7 || srv.Auth == nil {
		t.Errorf("server limits: max %d, buffered %d, rate limit %+v, auth %v", srv.MaxConnections, srv.MaxBufferedBytes, srv.RateLimit, srv.Auth)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-token", "short"}, "-token must be at least 16 bytes"},
		{[]string{"-udp", "-token", "0123456789abcdef"}, "-token cannot be combined with -udp"},
		{[]string{"-max-payload", "big"}, "invalid value"},
		{[]string{"-max-conns-per-ip", "-2"}, "must not be negative"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		var log exampletest.SyncBuffer
		err := run(ctx, c.args, &log)
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %q = %v, want an error with %q", c.args, err, c.want)
		}
	}
}

// TestLimitsEnforced: the limits reach the running server: it logs them,
// closes a third connection over -max-conns 2 and closes a connection that
// exceeds -conn-msg-rate.
func TestLimitsEnforced(t *testing.T) {
	s := start(t, quickstart.Options{}, "-max-conns", "2", "-conn-msg-rate", "50")
	const want = "msg=limits max_conns=2 max_conns_per_ip=256 idle_timeout=5m0s max_payload=1048576 max_buffered=67108864 conn_msg_rate=50 conn_byte_rate=67108864 conn_rate_per_ip=50 auth=none"
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.log.String(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("limits not logged:\n%s", s.log.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// The two connections -max-conns allows. The server may still count the
	// connection that start's readiness probe closed: retry until it has
	// let it go.
	var cls []*binproto.Client
	for len(cls) < 2 {
		cl, err := binproto.Dial(ctx, p, s.addr, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := echo(ctx, cl); err != nil {
			cl.Close()
			if ctx.Err() != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		defer cl.Close()
		cls = append(cls, cl)
	}
	nc, err := net.DialTimeout("tcp", s.addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosedSilently(t, nc)
	// 50 messages/s with a 1 s burst: 200 at once exceed it.
	var failed error
	for range 200 {
		if failed = echo(ctx, cls[0]); failed != nil {
			break
		}
	}
	if failed == nil {
		t.Fatal("200 requests at once were all answered despite -conn-msg-rate 50")
	}
}

// TestToken: with -token, a request before authenticating gets no reply,
// and a client with the token is served.
func TestToken(t *testing.T) {
	const token = "a-token-of-sixteen+"
	// start's readiness check cannot authenticate: run directly.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	addr := freePort(t, "tcp")
	var log exampletest.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", addr, "-token", token}, &log) }()
	cfg := mustProtocol(t).Config()
	authTypes.Declare(&cfg)
	p, err := binproto.NewProtocol(cfg)
	if err != nil {
		t.Fatal(err)
	}
	opts := &binproto.ClientOptions{Auth: binproto.TokenCredentials{Types: authTypes, Token: []byte(token)}}
	var cl *binproto.Client
	for deadline := time.Now().Add(15 * time.Second); ; {
		cl, err = binproto.Dial(ctx, p, addr, opts)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("authenticated dial: %v\n%s", err, &log)
	}
	if err := echo(ctx, cl); err != nil {
		t.Fatalf("authenticated request: %v", err)
	}
	cl.Close()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	expectClosedSilently(t, nc)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(log.String(), "auth=token") {
		t.Errorf("log does not say auth=token:\n%s", &log)
	}
}

func mustProtocol(t *testing.T) *binproto.Protocol {
	t.Helper()
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// echo makes one SENSOR_DATA request on cl.
func echo(ctx context.Context, cl *binproto.Client) error {
	in := quickstart.Sensor{Sensor1: 1, Sensor4: 4}
	var out quickstart.Sensor
	_, err := binproto.RequestTyped(ctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out)
	if err == nil && out != in {
		err = errors.New("echo differs")
	}
	return err
}

// expectClosedSilently sends a SENSOR_DATA request on nc and checks that
// the server closes the connection without a byte of reply.
func expectClosedSilently(t *testing.T, nc net.Conn) {
	t.Helper()
	_, _ = nc.Write(append([]byte{0, 1}, make([]byte, 16)...))
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, err := nc.Read(buf)
	var ne net.Error
	if n > 0 || err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("got %d bytes %x (%v), want the connection closed with no reply", n, buf[:n], err)
	}
}
