package cli

import (
	"fmt"
	"go/token"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/gen"
)

// exactArgs accepts exactly n positional arguments, named in what, and
// reports anything else as a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s, got %d argument(s)", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// newGenCmd builds `binproto gen` with its go and python subcommands.
func newGenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gen",
		Short: "Generate Go or Python code from a schema file",
		Long: "gen writes the code of a schema file's protocol: `gen go` Go types with binproto tags, type\n" +
			"constants, codecs and a round-trip test; `gen python` a module for the Python package\n" +
			"binary_protocol 0.2.x (its IntEnum, MessageStructures and ProtocolConfig). Both ends then\n" +
			"share one source of truth.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newGenGoCmd(), newGenPythonCmd())
	return cmd
}

func newGenGoCmd() *cobra.Command {
	var out, pkg string
	cmd := &cobra.Command{
		Use:     "go SCHEMA",
		Short:   "Generate Go types, codecs and a round-trip test",
		Long:    "go writes DIR/PACKAGE.go (types, constants, codecs, ProtocolConfig, NewProtocol) and\nDIR/PACKAGE_test.go (a test that round-trips samples of every type against the schema's bytes).",
		Example: "  binproto gen go examples/schema/gateway.yaml --out ./gatewaypb",
		Args:    exactArgs(1, "one schema file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSchema(args[0])
			if err != nil {
				return err
			}
			if pkg == "" {
				pkg = defaultPackage(out, args[0])
			}
			if out == "" {
				out = pkg
			}
			files, err := gen.Go(s, gen.GoOptions{Package: pkg})
			if err != nil {
				return usagef("gen go: %v", err)
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				return err
			}
			for name, data := range map[string][]byte{pkg + ".go": files.Code, pkg + "_test.go": files.Test} {
				if err := os.WriteFile(filepath.Join(out, name), data, 0o644); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s and %s (package %s, %d types)\n",
				filepath.Join(out, pkg+".go"), filepath.Join(out, pkg+"_test.go"), pkg, len(s.Types))
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "`DIR` to write to (default: the package name)")
	cmd.Flags().StringVar(&pkg, "package", "", "Go package `NAME` (default: the base name of --out, else of the schema file)")
	return cmd
}

// defaultPackage derives a package name from the output folder or the
// schema file's name.
func defaultPackage(out, schemaFile string) string {
	for _, p := range []string{out, strings.TrimSuffix(filepath.Base(schemaFile), filepath.Ext(schemaFile))} {
		name := strings.ToLower(strings.NewReplacer("-", "", ".", "", "_", "").Replace(filepath.Base(p)))
		if p != "" && token.IsIdentifier(name) && !token.IsKeyword(name) {
			return name
		}
	}
	return "protocol"
}

func newGenPythonCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:     "python SCHEMA",
		Short:   "Generate a module for the Python package binary_protocol",
		Example: "  binproto gen python examples/schema/gateway.yaml --out gateway_protocol.py",
		Args:    exactArgs(1, "one schema file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadSchema(args[0])
			if err != nil {
				return err
			}
			src, err := gen.Python(s)
			if err != nil {
				return usagef("gen python: %v", err)
			}
			if out == "" || out == "-" {
				_, err = cmd.OutOrStdout().Write(src)
				return err
			}
			return os.WriteFile(out, src, 0o644)
		},
	}
	cmd.Flags().StringVar(&out, "out", "-", "`FILE` to write the module to (- for standard output)")
	return cmd
}
