// Command binproto is the binproto command-line tool.
//
//	binproto bench [--all|--fixed|--variable|--realistic] [flags]
//	binproto serve [--addr HOST:PORT] [--tls-cert F --tls-key F] [--checksum] [--udp]
//
// bench runs the benchmark suite on binproto (an embedded server on
// loopback, or --addr) side by side with the HTTP/JSON baseline, prints
// summary tables and writes results.json, PNG plots and report.md to --out.
// serve runs the benchmark server for benchmarks from another process.
// See package cli for the commands and their flags.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/binproto/binproto/cmd/binproto/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Execute(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
