package binprototarget

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// ServeConfig holds the settings of `binproto serve`.
type ServeConfig struct {
	// Addr is the host:port to listen on.
	Addr string
	// TLSCert and TLSKey are PEM files; both or neither must be given.
	TLSCert, TLSKey string
	// Checksum enables per-message checksums.
	Checksum bool
	// UDP serves over UDP instead of TCP.
	UDP bool

	// The limits, as in binproto.Server and binproto.Config: zero takes
	// the library's default, negative means none where the library says so.

	// MaxConns is Server.MaxConnections (zero: 7/8 of the fd limit).
	MaxConns int
	// MaxConnsPerIP is RateLimit.MaxConnsPerIP (zero: unbounded).
	MaxConnsPerIP int
	// IdleTimeout is Config.IdleTimeout (zero: 5 min; negative: none).
	IdleTimeout time.Duration
	// MaxPayload is Config.MaxPayloadSize (zero: DefaultServeMaxPayload).
	MaxPayload int
	// MaxBuffered is Server.MaxBufferedBytes (zero: 64 MiB; negative: none).
	MaxBuffered int
	// ConnMsgRate and ConnByteRate are RateLimit.ConnMessageRate and
	// ConnByteRate (zero: off).
	ConnMsgRate, ConnByteRate float64
	// Token, when set, makes the server require token authentication
	// (binproto.TokenAuth with AuthTypes) with this token.
	Token string
	// Schema, when set, is the protocol served instead of the benchmark
	// one, every type echoed (`binproto serve --schema`): MaxPayload zero
	// then takes the schema's max_payload, and Checksum forces CRC-32
	// whatever the schema says.
	Schema *schemafile.Schema
	// ProxyProtocol is Server.ProxyProtocol, as ParseProxyProtocol reads
	// it ("" or "off": off): the PROXY header a balancer in front sends.
	// TCP only.
	ProxyProtocol string
	// MaxConnAge and MaxConnAgeGrace are Server.Native.MaxConnectionAge
	// and MaxConnectionAgeGrace (zero: no age limit; the library's grace):
	// native-profile connections are drained at that age, so that clients
	// reconnect and a balancer in front can rebalance them.
	MaxConnAge, MaxConnAgeGrace time.Duration
	// Metrics, when set, is the HOST:PORT on which Prometheus metrics
	// (binproto's, the Go runtime's, the process's) are served at /metrics.
	Metrics string
}

// MinTokenLen is the shortest token ServeConfig.Token accepts.
const MinTokenLen = 16

// Check reports a setting Serve cannot run with.
func (cfg *ServeConfig) Check() error {
	switch {
	case cfg.Token != "" && len(cfg.Token) < MinTokenLen:
		return fmt.Errorf("the token must be at least %d bytes, got %d", MinTokenLen, len(cfg.Token))
	case cfg.Token != "" && cfg.UDP:
		return errors.New("token authentication needs TCP: it cannot be combined with UDP")
	case cfg.ProxyProtocol != "" && cfg.ProxyProtocol != "off" && cfg.UDP:
		return errors.New("the PROXY protocol needs TCP: it cannot be combined with UDP")
	case cfg.MaxConnAge < 0 || cfg.MaxConnAgeGrace < 0:
		return errors.New("the connection age and its grace must not be negative (0: no limit, the default grace)")
	case cfg.MaxConnsPerIP < 0:
		return fmt.Errorf("connections per IP must not be negative (0: unbounded), got %d", cfg.MaxConnsPerIP)
	case cfg.MaxPayload < 0:
		return fmt.Errorf("the payload limit must not be negative (0: the default), got %d", cfg.MaxPayload)
	case cfg.ConnMsgRate < 0 || cfg.ConnByteRate < 0:
		return errors.New("rates must not be negative (0: off)")
	}
	_, err := ParseProxyProtocol(cfg.ProxyProtocol)
	return err
}

// Serve runs the benchmark server with cfg until ctx ends, logging to out.
// Once listening it logs "serving the benchmark protocol" with the address
// bound (Addr HOST:0 picks a free port). It returns nil after a clean
// shutdown.
func Serve(ctx context.Context, cfg ServeConfig, out io.Writer) error {
	if err := cfg.Check(); err != nil {
		return err
	}
	srv, err := cfg.server()
	if err != nil {
		return err
	}
	srv.Logger = slog.New(slog.NewTextHandler(out, nil))
	srv.MaxConnections = cfg.MaxConns
	srv.MaxBufferedBytes = cfg.MaxBuffered
	srv.RateLimit = binproto.RateLimit{
		MaxConnsPerIP:   cfg.MaxConnsPerIP,
		ConnMessageRate: cfg.ConnMsgRate,
		ConnByteRate:    cfg.ConnByteRate,
	}
	if srv.ProxyProtocol, err = ParseProxyProtocol(cfg.ProxyProtocol); err != nil {
		return err
	}
	srv.Native.MaxConnectionAge, srv.Native.MaxConnectionAgeGrace = cfg.MaxConnAge, cfg.MaxConnAgeGrace
	if cfg.Token != "" {
		srv.Auth = &binproto.TokenAuth{Types: AuthTypes, Tokens: map[string]string{cfg.Token: "client"}}
	}
	if cfg.Metrics != "" {
		stop, err := serveMetrics(cfg.Metrics, srv)
		if err != nil {
			return err
		}
		defer stop()
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	// Listen here rather than in ListenAndServe: a busy port fails before
	// anything is logged, and the log names the port actually bound (--addr
	// HOST:0 picks a free one).
	errc := make(chan error, 1)
	var bound net.Addr
	if cfg.UDP {
		pc, err := net.ListenPacket("udp", cfg.Addr)
		if err != nil {
			return err
		}
		bound = pc.LocalAddr()
		go func() { errc <- srv.ServePacket(pc) }()
	} else {
		l, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return err
		}
		bound = l.Addr()
		go func() { errc <- srv.Serve(l) }()
	}
	setMemoryLimit(srv.Logger, cfg.MaxBuffered)
	srv.Logger.Info(cfg.serving(), "addr", bound.String(), "udp", cfg.UDP, "checksum", cfg.Checksum, "tls", srv.TLSConfig != nil, "auth", authName(cfg.Token), "proxy_protocol", proxyString(srv.ProxyProtocol))
	LogLimits(srv.Logger, srv)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	logStats(srv.Logger, srv.Stats())
	if err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
		return err
	}
	return nil
}

// server returns the server Serve runs: the benchmark protocol's, or the
// echo server of cfg.Schema.
func (cfg *ServeConfig) server() (*binproto.Server, error) {
	if cfg.Schema != nil {
		o := SchemaOptions{Token: cfg.Token != "", UDP: cfg.UDP, MaxPayload: cfg.MaxPayload, IdleTimeout: cfg.IdleTimeout}
		if cfg.Checksum {
			o.Checksum = schemafile.ChecksumCRC32
		}
		p, err := SchemaProtocol(cfg.Schema, o)
		if err != nil {
			return nil, err
		}
		return NewSchemaServer(p, cfg.Schema), nil
	}
	maxPayload := cfg.MaxPayload
	if maxPayload == 0 {
		maxPayload = DefaultServeMaxPayload()
	}
	p, err := NewProtocol(ProtocolOptions{Checksum: cfg.Checksum, UDP: cfg.UDP, MaxPayload: maxPayload, IdleTimeout: cfg.IdleTimeout})
	if err != nil {
		return nil, err
	}
	return NewServer(p), nil
}

// serving is the message Serve logs once listening.
func (cfg *ServeConfig) serving() string {
	if cfg.Schema != nil {
		sum := cfg.Schema.Checksum
		if cfg.Checksum {
			sum = schemafile.ChecksumCRC32
		}
		return "serving the protocol of " + cfg.Schema.File + " (checksum " + sum + "), echoing every type (" + strings.Join(cfg.Schema.TypeNames(), ", ") + ")"
	}
	return "serving the benchmark protocol"
}

// logStats logs the server's counters as it stops: what an attack run
// reads the server's side of (connections refused, authentications
// judged and throttled, closes by reason).
func logStats(log *slog.Logger, st binproto.Stats) {
	log.Info("stats",
		"accepted", st.ConnectionsAccepted, "rejected", st.ConnectionsRejected,
		"messages_in", st.MessagesIn, "messages_out", st.MessagesOut,
		"authenticated", st.Authenticated, "auth_failures", st.AuthFailures,
		"auth_throttled", st.AuthThrottled, "auth_delayed", st.AuthDelayed,
		"rate_limited", st.RateLimited, "datagrams_throttled", st.DatagramsThrottled,
		"closes", fmt.Sprint(st.Closes))
}

func authName(token string) string {
	if token == "" {
		return "none"
	}
	return "token"
}

// LogLimits logs the limits srv will serve with, defaults resolved: a
// zero field is shown as the value the library gives it.
func LogLimits(log *slog.Logger, srv *binproto.Server) {
	cfg := srv.Protocol.Config() // defaults applied by NewProtocol
	rl := srv.RateLimit
	log.Info("limits",
		"max_conns", EffectiveMaxConns(srv.MaxConnections),
		"max_conns_per_ip", orNone(rl.MaxConnsPerIP, "unbounded"),
		"idle_timeout", durOrNone(cfg.IdleTimeout),
		"read_timeout", durOrNone(cfg.ReadTimeout),
		"write_timeout", durOrNone(cfg.WriteTimeout),
		"max_payload", cfg.MaxPayloadSize,
		"max_buffered", orDefault(srv.MaxBufferedBytes, binproto.DefaultMaxBufferedBytes),
		"conn_msg_rate", rateOrOff(rl.ConnMessageRate),
		"conn_byte_rate", rateOrOff(rl.ConnByteRate),
		"max_connection_age", durOrNone(srv.Native.MaxConnectionAge),
	)
}

// EffectiveMaxConns returns the connection bound a Server with
// MaxConnections n applies: n if positive, "unbounded" if negative, and
// for zero the library's default, seven eighths of the file-descriptor
// limit (computed here as the library does, to be shown).
func EffectiveMaxConns(n int) string {
	switch {
	case n > 0:
		return fmt.Sprint(n)
	case n < 0:
		return "unbounded"
	}
	if lim := fdLimit(); lim > 0 && lim < 1<<24 {
		return fmt.Sprintf("%d (7/8 of the fd limit %d)", lim-lim/8, lim)
	}
	return "unbounded (no fd limit)"
}

func orNone(n int, none string) any {
	if n <= 0 {
		return none
	}
	return n
}

func orDefault(n, def int) any {
	switch {
	case n == 0:
		return def
	case n < 0:
		return "unbounded"
	}
	return n
}

func durOrNone(d time.Duration) string {
	if d <= 0 {
		return "none"
	}
	return d.String()
}

func rateOrOff(r float64) any {
	if r <= 0 {
		return "off"
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// setMemoryLimit gives the Go runtime a soft memory limit that follows the
// frame-memory budget (twice it, for buffers rounded up to their size class
// and the garbage between collections, plus 64 MiB for everything else:
// 192 MiB by default), unless
// GOMEMLIMIT sets one: the garbage collector then works harder as the heap
// nears it, so that the process's memory stays near what the budget
// bounds instead of growing to twice the live heap between collections.
func setMemoryLimit(log *slog.Logger, budget int) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if budget == 0 {
		budget = binproto.DefaultMaxBufferedBytes
	}
	if budget < 0 {
		return
	}
	limit := int64(budget)*2 + 64<<20
	debug.SetMemoryLimit(limit)
	log.Info("soft memory limit", "bytes", limit, "set_with", "GOMEMLIMIT")
}

// proxyString names a ProxyProtocol as the log shows it: its mode, and
// the trusted networks.
func proxyString(pp binproto.ProxyProtocol) string {
	if len(pp.Trusted) == 0 {
		return pp.Mode.String()
	}
	return fmt.Sprintf("%v %v", pp.Mode, pp.Trusted)
}
