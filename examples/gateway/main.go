// Command gateway is the IoT gateway of binproto's README: devices send a
// sensor reading every few milliseconds (one-way), send log lines that the
// gateway acknowledges (request/response), and receive the configuration
// the gateway broadcasts to all of them (server push). Connections
// authenticate with a token and are rate limited; SIGINT or SIGTERM shuts
// the gateway down gracefully.
//
//	go run ./examples/gateway -addr 127.0.0.1:9100 -token <16+ bytes>
//
// The devices side is Devices, which the tests run against the gateway
// under load.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/binproto/binproto"
)

// The gateway's message types.
const (
	Reading binproto.MessageType = 1 // device → gateway, one-way
	LogLine binproto.MessageType = 2 // device → gateway, answered by Ack
	Ack     binproto.MessageType = 3 // gateway → device
	Config  binproto.MessageType = 4 // gateway → every device, pushed
)

// The authentication messages of binproto's built-in token authenticator.
var authTypes = binproto.AuthTypes{Token: 100, OK: 101}

// ReadingMsg is one sensor reading.
type ReadingMsg struct {
	Device   uint32  `binproto:"device,>I"`
	Seq      uint32  `binproto:"seq,>I"`
	Temp     float32 `binproto:"temp,>f"`
	Humidity float32 `binproto:"humidity,>f"`
}

// LogMsg is one log line of a device.
type LogMsg struct {
	Device uint32 `binproto:"device,>I"`
	Line   string `binproto:"line"`
}

// AckMsg acknowledges a log line: Seq counts the device's lines.
type AckMsg struct {
	Seq uint32 `binproto:"seq,>I"`
}

// ConfigMsg is the configuration the gateway broadcasts.
type ConfigMsg struct {
	Version    uint32 `binproto:"version,>I"`
	IntervalMS uint32 `binproto:"interval_ms,>I"`
}

// The compiled codecs.
var (
	ReadingCodec = binproto.MustCodec[ReadingMsg]()
	LogCodec     = binproto.MustCodec[LogMsg]()
	AckCodec     = binproto.MustCodec[AckMsg]()
	ConfigCodec  = binproto.MustCodec[ConfigMsg]()
)

// Protocol returns the gateway's protocol: which type answers which request
// (a log line is answered by an ack) and which types are only ever pushed
// (the configuration) are declared, so that a client never takes a push for
// a reply.
func Protocol() (*binproto.Protocol, error) {
	cfg := binproto.Config{
		Types: map[binproto.MessageType]*binproto.Structure{
			Reading: ReadingCodec.Structure(),
			LogLine: LogCodec.Structure(),
			Ack:     AckCodec.Structure(),
			Config:  ConfigCodec.Structure(),
		},
		Replies: map[binproto.MessageType][]binproto.MessageType{LogLine: {Ack}},
		Pushes:  []binproto.MessageType{Config},
	}
	authTypes.Declare(&cfg)
	return binproto.NewProtocol(cfg)
}

// Gateway counts what the devices send and broadcasts the configuration.
type Gateway struct {
	Server   *binproto.Server
	Readings atomic.Int64 // readings received
	Logs     atomic.Int64 // log lines acknowledged
	version  atomic.Uint32
}

// NewGateway returns a gateway for p accepting token, hardened for
// untrusted devices (see SECURITY.md).
func NewGateway(p *binproto.Protocol, token string, log *slog.Logger) *Gateway {
	g := &Gateway{Server: &binproto.Server{
		Protocol:       p,
		Logger:         log,
		Auth:           &binproto.TokenAuth{Types: authTypes, Tokens: map[string]string{token: "device"}},
		MaxConnections: 2000,
		RateLimit: binproto.RateLimit{
			ConnMessageRate: 2000, // a device sends far less; a flood is cut off
			ConnByteRate:    1 << 20,
			MaxConnsPerIP:   1000,
		},
	}}
	binproto.HandleTyped(g.Server, Reading, ReadingCodec, func(ctx context.Context, c *binproto.Conn, r *ReadingMsg) (binproto.Outgoing, error) {
		g.Readings.Add(1)
		return binproto.NoReply, nil
	})
	binproto.HandleTyped(g.Server, LogLine, LogCodec, func(ctx context.Context, c *binproto.Conn, l *LogMsg) (binproto.Outgoing, error) {
		n := g.Logs.Add(1)
		return binproto.Typed(Ack, AckCodec, &AckMsg{Seq: uint32(n)}), nil
	})
	return g
}

// Broadcast sends a new configuration version to every device.
func (g *Gateway) Broadcast(ctx context.Context) (int, error) {
	cfg := ConfigMsg{Version: g.version.Add(1), IntervalMS: 10}
	return g.Server.Broadcast(ctx, binproto.Typed(Config, ConfigCodec, &cfg))
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends, broadcasting the configuration every
// -broadcast, then shuts down gracefully within -drain.
func run(ctx context.Context, args []string, logw io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9100", "address to listen on")
	token := fs.String("token", "", "the devices' token (at least 16 bytes)")
	every := fs.Duration("broadcast", 500*time.Millisecond, "configuration broadcast interval")
	drain := fs.Duration("drain", 5*time.Second, "how long a graceful shutdown may take")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(*token) < 16 {
		return errors.New("-token of at least 16 bytes is required")
	}
	p, err := Protocol()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	g := NewGateway(p, *token, log)
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	log.Info("gateway serving", "addr", l.Addr())
	return g.Serve(ctx, l, *every, *drain)
}

// Serve serves l until ctx ends, broadcasting the configuration every
// interval, then shuts down within drain.
func (g *Gateway) Serve(ctx context.Context, l net.Listener, every, drain time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- g.Server.Serve(l) }()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-errc:
			return err
		case <-tick.C:
			g.Broadcast(ctx)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			if err := g.Server.Shutdown(sctx); err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
				return err
			}
			return nil
		}
	}
}
