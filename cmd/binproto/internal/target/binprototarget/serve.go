package binprototarget

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/binproto/binproto"
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
}

// Serve runs the benchmark server with cfg until ctx ends, logging to out.
// Once listening it logs "serving the benchmark protocol" with the address
// bound (Addr HOST:0 picks a free port). It returns nil after a clean
// shutdown.
func Serve(ctx context.Context, cfg ServeConfig, out io.Writer) error {
	p, err := Protocol(cfg.Checksum, cfg.UDP)
	if err != nil {
		return err
	}
	srv := NewServer(p)
	srv.Logger = slog.New(slog.NewTextHandler(out, nil))
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
	srv.Logger.Info("serving the benchmark protocol", "addr", bound.String(), "udp", cfg.UDP, "checksum", cfg.Checksum, "tls", srv.TLSConfig != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
		return err
	}
	return nil
}
