package main

import (
	"errors"
	"flag"
	"io"
)

// benchFlags are the Python client's --benchmark switches.
type benchFlags struct {
	benchmark, all, fixed, variable, realistic *bool
}

func addBenchFlags(fs *flag.FlagSet) *benchFlags {
	return &benchFlags{
		benchmark: fs.Bool("benchmark", false, "run the benchmark suite instead of the echo check"),
		all:       fs.Bool("all", false, "with -benchmark: every benchmark"),
		fixed:     fs.Bool("fixed", false, "with -benchmark: the fixed-size benchmark"),
		variable:  fs.Bool("variable", false, "with -benchmark: the variable-size benchmark"),
		realistic: fs.Bool("realistic", false, "with -benchmark: the realistic multi-client benchmark"),
	}
}

func (b *benchFlags) enabled() bool { return *b.benchmark }

func (b *benchFlags) run(addr string, out io.Writer) error {
	return errors.New("benchmark suite not wired yet")
}
