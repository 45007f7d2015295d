package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

// newServeCmd builds `binproto serve`, which checks its flags and runs
// serve.
func newServeCmd(serve func(context.Context, binprototarget.ServeConfig, io.Writer) error) *cobra.Command {
	var cfg binprototarget.ServeConfig
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a binproto server (for `bench --addr` from elsewhere)",
		Long: "serve runs a binproto server until interrupted, so that `binproto bench --addr HOST:PORT`\n" +
			"can benchmark it from another process or machine. bench speaks plain TCP without checksums:\n" +
			"a server started with --checksum, --udp or TLS serves other clients (such as the Python ones).\n" +
			"--addr HOST:0 picks a free port; the log names the address served.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
				return usagef("--tls-cert and --tls-key must be given together")
			}
			if cfg.UDP && cfg.TLSCert != "" {
				return usagef("--udp cannot be combined with TLS")
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", "127.0.0.1:7700", "`HOST:PORT` to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate `FILE` (PEM); needs --tls-key")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key `FILE` (PEM); needs --tls-cert")
	f.BoolVar(&cfg.Checksum, "checksum", false, "check a checksum on every message")
	f.BoolVar(&cfg.UDP, "udp", false, "serve over UDP instead of TCP")
	return cmd
}
