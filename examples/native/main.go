// Command native shows binproto's native profile end to end on loopback:
// many concurrent calls on one connection (a held call does not hold up the
// others), errors with codes, a validator's refusal, a deadline carried to
// the handler, cancellation, MaxConcurrentStreams, keepalive, a compatible
// client on the same port, and Shutdown with its goaway. It prints one line
// per step and exits non-zero if any step does not behave as it should.
//
//	go run ./examples/native                          # server and client in one process
//	go run ./examples/native -serve 127.0.0.1:9000    # the server alone, until interrupted
//	go run ./examples/native -addr 127.0.0.1:9000     # the client alone, against -serve
//
// The server serves the Python binary_protocol quick-start types as
// basic_server does (its compatible clients, the Python package's among
// them, work on the same port) and the job types of server.go. With -addr
// the shutdown step is skipped (the server is another process's); stop
// the -serve process with Ctrl-C: it shuts down, sending its native
// clients a goaway.
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
	"syscall"
	"time"

	"github.com/binproto/binproto"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "native:", err)
		os.Exit(1)
	}
}

// run runs what args ask for, printing to out: the server alone (-serve)
// until ctx ends, the client alone (-addr), or both.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("native", flag.ContinueOnError)
	fs.SetOutput(out)
	addr := fs.String("addr", "", "run the client alone, against the server at this address (started with -serve)")
	serveAddr := fs.String("serve", "", "run the server alone on this address, until interrupted")
	timeout := fs.Duration("timeout", 20*time.Second, "the client's overall time limit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *addr != "" && *serveAddr != "" {
		return errors.New("-addr and -serve exclude each other")
	}
	proto, err := newProtocol()
	if err != nil {
		return err
	}
	if *serveAddr != "" {
		return serve(ctx, proto, *serveAddr, out)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *addr != "" {
		return runClient(ctx, proto, *addr, nil, out)
	}

	srv, release := newServer(proto, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		srv.Close() // the shutdown step has shut it down already, unless a step failed
		<-served
	}()
	fmt.Fprintf(out, "server on %v (in this process): %s\n", l.Addr(), describe(srv))
	return runClient(ctx, proto, l.Addr().String(), &local{srv: srv, release: release}, out)
}

// serve runs the example's server on addr until ctx ends, then shuts it
// down: native clients get a goaway, held jobs are released, requests in
// flight are answered.
func serve(ctx context.Context, proto *binproto.Protocol, addr string, out io.Writer) error {
	srv, release := newServer(proto, slog.New(slog.NewTextHandler(out, nil)))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "serving the native and compatible profiles on %v: %s\n", l.Addr(), describe(srv))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(sctx) }()
	release() // Shutdown waits for the handlers running: let held jobs finish
	err = <-shut
	<-served // ErrServerClosed
	fmt.Fprintln(out, "shut down")
	return err
}
