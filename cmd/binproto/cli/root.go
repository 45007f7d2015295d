package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Exit codes of the command.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError marks an error in the command line itself.
type usageError struct{ err error }

// Error implements error.
func (e usageError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// Execute runs the command line args and returns the process exit code.
// Errors are printed to stderr with a hint for command-line mistakes.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return execute(ctx, defaultWiring(), args, stdout, stderr)
}

// execute is Execute with the targets and server of w.
func execute(ctx context.Context, w wiring, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(w, stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "binproto: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitError
}

// newRootCmd builds the command tree running w, writing to stdout and
// stderr.
func newRootCmd(w wiring, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "binproto",
		Short:         "binproto tools: benchmark suite, server and attack run",
		Long:          "binproto sends typed binary messages over TCP/UDP with far lower latency than HTTP/JSON.\nThis tool benchmarks it against an HTTP/JSON baseline, serves it for remote benchmarks,\nand attacks a server to check its limits.",
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBenchCmd(w), newServeCmd(w.serve), newAttackCmd(w.attack))
	root.AddCommand(newGenCmd(), newSchemaCmd(), newCallCmd(), newDecodeCmd())
	return root
}

// noArgs rejects positional arguments as a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		if cmd.HasSubCommands() {
			return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
		}
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}
