// Command basic_server serves the Python binary_protocol quick-start message
// types (SENSOR_DATA=1, STATUS=2, BENCHMARK=3, FIXED_BENCHMARK=4) with header
// ">H", echoing each message back and answering anything else with
// NOT_FOUND. It runs until interrupted, then shuts down gracefully.
//
//	go run ./examples/basic_server -addr 127.0.0.1:9000 [-checksum] [-udp]
//	    [-tls-cert cert.pem -tls-key key.pem]
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
	proto, err := quickstart.Protocol(quickstart.Options{Checksum: *checksum, UDP: *udp})
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(logw, nil))
	srv := quickstart.EchoServer(proto)
	srv.Logger = log
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
