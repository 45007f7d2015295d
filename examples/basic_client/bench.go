package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"

	"github.com/binproto/binproto/cmd/binproto/cli"
)

// benchFlags are the Python client's --benchmark switches. They run the
// same code as `binproto bench`.
type benchFlags struct {
	benchmark, all, fixed, variable, realistic *bool
	out                                        *string
}

func addBenchFlags(fs *flag.FlagSet) *benchFlags {
	return &benchFlags{
		benchmark: fs.Bool("benchmark", false, "run the benchmark suite (binproto bench) instead of the echo check"),
		all:       fs.Bool("all", false, "with -benchmark: every benchmark (the default)"),
		fixed:     fs.Bool("fixed", false, "with -benchmark: the fixed-size benchmark"),
		variable:  fs.Bool("variable", false, "with -benchmark: the variable-size benchmark"),
		realistic: fs.Bool("realistic", false, "with -benchmark: the realistic multi-client benchmark"),
		out:       fs.String("out", "benchmark_results", "with -benchmark: where to write results"),
	}
}

func (b *benchFlags) enabled() bool { return *b.benchmark }

// run runs `binproto bench` with the selected kinds, against the embedded
// server, or against addr when -addr was given (a `binproto serve` server).
func (b *benchFlags) run(fs *flag.FlagSet, addr string, out io.Writer) error {
	args := []string{"bench", "--out", *b.out}
	for name, on := range map[string]*bool{"--all": b.all, "--fixed": b.fixed, "--variable": b.variable, "--realistic": b.realistic} {
		if *on {
			args = append(args, name)
		}
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "addr" {
			args = append(args, "--addr", addr)
		}
	})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if code := cli.Execute(ctx, args, out, os.Stderr); code != 0 {
		return fmt.Errorf("benchmark failed (exit code %d)", code)
	}
	return nil
}
