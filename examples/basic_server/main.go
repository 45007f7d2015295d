// Command basic_server serves the Python binary_protocol quick-start message
// types (SENSOR_DATA=1, STATUS=2, BENCHMARK=3, FIXED_BENCHMARK=4) with header
// ">H", echoing each message back and answering anything else with
// NOT_FOUND. It runs until interrupted, then shuts down gracefully.
//
//	go run ./examples/basic_server -addr 127.0.0.1:9000 [-checksum] [-udp]
//	    [-tls-cert cert.pem -tls-key key.pem] [-token TOKEN]
//	    [-max-conns N] [-max-conns-per-ip N] [-conn-rate-per-ip R] [-idle-timeout D]
//	    [-max-payload SIZE] [-max-buffered SIZE]
//	    [-conn-msg-rate N] [-conn-byte-rate SIZE]
//
// It is hardened by default, as a server facing untrusted peers should be:
// the library's connection bound (7/8 of the file-descriptor limit), 256
// connections per IP address, a 5-minute idle timeout, 1 MiB payloads, a
// 64 MiB frame-memory budget, and per-connection rates of 20 000 messages
// and 64 MiB per second (a connection over a rate is closed). With -token,
// every connection must first authenticate with that token (message types
// 100 and 101, binproto.TokenAuth). It logs the limits in force at start.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "basic_server:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends (main cancels it on SIGINT or SIGTERM), then
// shuts down gracefully. It logs to logw.
func run(ctx context.Context, args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("basic_server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9000", "address to listen on")
	checksum := fs.Bool("checksum", false, "add the CRC-32 checksum trailer to every frame")
	udp := fs.Bool("udp", false, "serve UDP datagrams instead of TCP")
	certFile := fs.String("tls-cert", "", "TLS certificate file (PEM); with -tls-key serves TLS")
	keyFile := fs.String("tls-key", "", "TLS private key file (PEM)")
	lim := defaultLimits()
	lim.addFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if (*certFile == "") != (*keyFile == "") {
		return errors.New("-tls-cert and -tls-key must be given together")
	}
	if *udp && *certFile != "" {
		return errors.New("-udp cannot be combined with TLS")
	}
	if err := lim.check(*udp); err != nil {
		return err
	}
	proto, err := quickstart.Protocol(quickstart.Options{Checksum: *checksum, UDP: *udp,
		Base: binproto.Config{MaxPayloadSize: lim.maxPayload, IdleTimeout: lim.idleTimeout}})
	if err != nil {
		return err
	}
	if lim.token != "" {
		// The token exchange's types join the quick-start ones.
		cfg := proto.Config()
		authTypes.Declare(&cfg)
		if proto, err = binproto.NewProtocol(cfg); err != nil {
			return err
		}
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	srv := quickstart.EchoServer(proto)
	srv.Logger = log
	lim.apply(srv)
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(*addr) }()
	log.Info("serving the quick-start protocol", "addr", *addr, "udp", *udp, "checksum", *checksum, "tls", srv.TLSConfig != nil)
	lim.log(log, srv)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
		return err
	}
	st := srv.Stats()
	log.Info("stopped", "connections", st.ConnectionsAccepted, "messages_in", st.MessagesIn, "messages_out", st.MessagesOut)
	return nil
}

// authTypes are the message types of the token exchange (-token).
var authTypes = binproto.AuthTypes{Token: 100, OK: 101}

// minTokenLen is the shortest -token accepted.
const minTokenLen = 16

// limits are the server's hardening settings, from the flags.
type limits struct {
	maxConns, maxConnsPerIP int
	idleTimeout             time.Duration
	maxPayload, maxBuffered int
	connMsgRate             float64
	connByteRate            int
	connRatePerIP           float64
	token                   string
}

// defaultLimits returns the limits without flags.
func defaultLimits() *limits {
	return &limits{
		maxConnsPerIP: 256,
		idleTimeout:   binproto.DefaultIdleTimeout,
		maxPayload:    binproto.DefaultMaxPayloadSize,
		maxBuffered:   binproto.DefaultMaxBufferedBytes,
		connMsgRate:   20000,
		connByteRate:  64 << 20,
		connRatePerIP: 50,
	}
}

func (l *limits) addFlags(fs *flag.FlagSet) {
	fs.IntVar(&l.maxConns, "max-conns", l.maxConns, "connections served at once (0: the library's default, 7/8 of the file-descriptor limit; negative: unbounded)")
	fs.IntVar(&l.maxConnsPerIP, "max-conns-per-ip", l.maxConnsPerIP, "connections at once from one IP address (0: unbounded)")
	fs.DurationVar(&l.idleTimeout, "idle-timeout", l.idleTimeout, "close a connection with no message dispatched for this long (negative: never)")
	fs.Var(sizeFlag{&l.maxPayload}, "max-payload", "largest payload accepted (bytes; suffixes KiB, MiB)")
	fs.Var(sizeFlag{&l.maxBuffered}, "max-buffered", "server-wide budget of frame bytes held beyond each connection's buffer (negative: unbounded)")
	fs.Float64Var(&l.connMsgRate, "conn-msg-rate", l.connMsgRate, "messages per second per connection (0: off)")
	fs.Var(sizeFlag{&l.connByteRate}, "conn-byte-rate", "bytes per second per connection (0: off)")
	fs.Float64Var(&l.connRatePerIP, "conn-rate-per-ip", l.connRatePerIP, "new connections per second from one IP address, with a burst of one second's worth (0: off)")
	fs.StringVar(&l.token, "token", "", fmt.Sprintf("require token authentication with this token (at least %d bytes; types 100/101); off by default", minTokenLen))
}

func (l *limits) check(udp bool) error {
	switch {
	case l.token != "" && len(l.token) < minTokenLen:
		return fmt.Errorf("-token must be at least %d bytes, got %d", minTokenLen, len(l.token))
	case l.token != "" && udp:
		return errors.New("-token cannot be combined with -udp (UDP has no connection to authenticate)")
	case l.maxConnsPerIP < 0:
		return fmt.Errorf("-max-conns-per-ip must not be negative (0: unbounded), got %d", l.maxConnsPerIP)
	case l.maxPayload < 1:
		return fmt.Errorf("-max-payload must be positive, got %d", l.maxPayload)
	case l.connMsgRate < 0 || l.connByteRate < 0 || l.connRatePerIP < 0:
		return errors.New("-conn-msg-rate, -conn-byte-rate and -conn-rate-per-ip must not be negative (0: off)")
	}
	return nil
}

// apply sets the server's limits (the payload limit and idle timeout are
// the protocol's).
func (l *limits) apply(srv *binproto.Server) {
	srv.MaxConnections = l.maxConns
	srv.MaxBufferedBytes = l.maxBuffered
	srv.RateLimit = binproto.RateLimit{
		MaxConnsPerIP:   l.maxConnsPerIP,
		ConnMessageRate: l.connMsgRate,
		ConnByteRate:    float64(l.connByteRate),
		IPConnRate:      l.connRatePerIP,
	}
	if l.token != "" {
		srv.Auth = &binproto.TokenAuth{Types: authTypes, Tokens: map[string]string{l.token: "client"}}
	}
}

// log logs the limits in force, defaults resolved.
func (l *limits) log(log *slog.Logger, srv *binproto.Server) {
	cfg := srv.Protocol.Config()
	auth := "none"
	if l.token != "" {
		auth = "token"
	}
	off := func(v float64) any {
		if v <= 0 {
			return "off"
		}
		return v
	}
	offInt := func(v int) any {
		if v <= 0 {
			return "off"
		}
		return v
	}
	perIP := any(l.maxConnsPerIP)
	if l.maxConnsPerIP == 0 {
		perIP = "unbounded"
	}
	buffered := any(l.maxBuffered)
	if l.maxBuffered < 0 {
		buffered = "unbounded"
	}
	idle := cfg.IdleTimeout.String()
	if cfg.IdleTimeout < 0 {
		idle = "none"
	}
	log.Info("limits", "max_conns", effectiveMaxConns(l.maxConns), "max_conns_per_ip", perIP,
		"idle_timeout", idle, "max_payload", cfg.MaxPayloadSize, "max_buffered", buffered,
		"conn_msg_rate", off(l.connMsgRate), "conn_byte_rate", offInt(l.connByteRate), "conn_rate_per_ip", off(l.connRatePerIP), "auth", auth)
}

// effectiveMaxConns shows the connection bound of Server.MaxConnections n:
// for zero, the library's default, seven eighths of the file-descriptor
// limit (computed here as the library does).
func effectiveMaxConns(n int) string {
	switch {
	case n > 0:
		return strconv.Itoa(n)
	case n < 0:
		return "unbounded"
	}
	if lim := fdLimit(); lim > 0 && lim < 1<<24 {
		return fmt.Sprintf("%d (7/8 of the fd limit %d)", lim-lim/8, lim)
	}
	return "unbounded (no fd limit)"
}

// sizeFlag is a flag of bytes: a whole number with an optional suffix B,
// KiB, MiB or GiB.
type sizeFlag struct{ n *int }

func (f sizeFlag) String() string {
	if f.n == nil {
		return "0"
	}
	return strconv.Itoa(*f.n)
}

func (f sizeFlag) Set(s string) error {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if err != nil || n*mult > 1<<31-1 || n*mult < -(1<<31) {
		return errors.New("want a whole number of bytes, optionally with KiB, MiB or GiB")
	}
	*f.n = int(n * mult)
	return nil
}
