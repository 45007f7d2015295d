package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

// Defaults of `binproto serve` beyond the library's.
const (
	// defaultMaxConnsPerIP bounds one address's connections: far more than
	// `bench --all` opens (100 realistic clients), far fewer than a flood.
	defaultMaxConnsPerIP = 256
)

// defaultServeConfig returns the settings of `binproto serve` without
// flags.
func defaultServeConfig() binprototarget.ServeConfig {
	return binprototarget.ServeConfig{
		Addr:          "127.0.0.1:7700",
		MaxConnsPerIP: defaultMaxConnsPerIP,
		IdleTimeout:   binproto.DefaultIdleTimeout,
		MaxPayload:    binprototarget.DefaultServeMaxPayload(),
		MaxBuffered:   binproto.DefaultMaxBufferedBytes,
		ProxyProtocol: "off",
	}
}

// newServeCmd builds `binproto serve`, which checks its flags and runs
// serve.
func newServeCmd(serve func(context.Context, binprototarget.ServeConfig, io.Writer) error) *cobra.Command {
	cfg := defaultServeConfig()
	var schemaFile string // --schema
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a binproto server (for `bench --addr` from elsewhere)",
		Long: "serve runs a binproto server until interrupted, so that `binproto bench --addr HOST:PORT`\n" +
			"can benchmark it from another process or machine. bench speaks plain TCP without checksums:\n" +
			"a server started with --checksum, --udp or TLS serves other clients (such as the Python ones).\n" +
			"--addr HOST:0 picks a free port; the log names the address served and the limits in force.\n\n" +
			"The server is hardened by default: connections are bounded in all (--max-conns) and per\n" +
			"address (--max-conns-per-ip), idle ones are closed (--idle-timeout), payloads are bounded to\n" +
			"what the default benchmarks send (--max-payload: 1 MiB of data plus its length prefix), and\n" +
			"frame memory to a server-wide budget (--max-buffered). The per-connection rates\n" +
			"(--conn-msg-rate, --conn-byte-rate) are OFF by default: bench's streams send millions of\n" +
			"messages per second on one connection. Set them for a server that faces untrusted peers.\n" +
			"With --token, every connection must authenticate first (types 100/101); run bench with the\n" +
			"same --token. `bench --sizes` above 1 MiB needs a larger --max-payload, and `bench --clients`\n" +
			"above 256 a larger --max-conns-per-ip.\n\n" +
			"Behind a TCP load balancer (HAProxy `mode tcp` with `send-proxy-v2`), --proxy-protocol makes the\n" +
			"server read the PROXY header each relayed connection begins with and use the client's address\n" +
			"it carries for --max-conns-per-ip, the logs and everything else (deploy/haproxy/haproxy.cfg).",
		Example: "  binproto serve --addr 0.0.0.0:7700\n" +
			"  binproto serve --token \"$(head -c 24 /dev/urandom | base64)\" --conn-msg-rate 20000 --conn-byte-rate 64MiB\n" +
			"  binproto serve --addr 127.0.0.1:7701 --proxy-protocol trusted=127.0.0.1/32",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
				return usagef("--tls-cert and --tls-key must be given together")
			}
			if cfg.UDP && cfg.TLSCert != "" {
				return usagef("--udp cannot be combined with TLS")
			}
			if cfg.UDP && cfg.Token != "" {
				return usagef("--token cannot be combined with --udp (UDP has no connection to authenticate)")
			}
			if cfg.Token != "" && len(cfg.Token) < binprototarget.MinTokenLen {
				return usagef("--token must be at least %d bytes, got %d", binprototarget.MinTokenLen, len(cfg.Token))
			}
			if err := cfg.Check(); err != nil {
				return usageError{err}
			}
			if err := loadServeSchema(cmd, &cfg, schemaFile); err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "`HOST:PORT` to listen on")
	f.StringVar(&cfg.TLSCert, "tls-cert", "", "TLS certificate `FILE` (PEM); needs --tls-key")
	f.StringVar(&cfg.TLSKey, "tls-key", "", "TLS private key `FILE` (PEM); needs --tls-cert")
	f.BoolVar(&cfg.Checksum, "checksum", false, "check a checksum on every message")
	f.BoolVar(&cfg.UDP, "udp", false, "serve over UDP instead of TCP")
	addLimitFlags(cmd, &cfg)
	f.StringVar(&schemaFile, "schema", "", "serve the protocol of the schema `FILE`, echoing every type, instead of the benchmark protocol (for `bench --schema`, `call`, and the Python package's clients)")
	f.DurationVar(&cfg.MaxConnAge, "max-connection-age", 0, "drain native-profile connections this old (±10%): a goaway, then the close once their requests are done, so that clients reconnect and a balancer rebalances them (0: never)")
	f.DurationVar(&cfg.MaxConnAgeGrace, "max-connection-age-grace", 0, "how long a connection past --max-connection-age may finish its requests (0: the library's default, 10s)")
	f.StringVar(&cfg.ProxyProtocol, "proxy-protocol", cfg.ProxyProtocol, "PROXY protocol (v1 and v2, as HAProxy's send-proxy-v2 sends it): off, required (every connection), or trusted=CIDR[,CIDR...] (required from those networks; other clients connect directly and may not send one)")
	f.StringVar(&cfg.Metrics, "metrics", "", "serve Prometheus metrics on http://`HOST:PORT`/metrics (messages by type and outcome, latency histograms, connections; off by default)")
	f.StringVar(&cfg.Token, "token", "", fmt.Sprintf("require token authentication with `TOKEN` (at least %d bytes; message types 100/101); off by default", binprototarget.MinTokenLen))
	return cmd
}

// addLimitFlags adds the flags of the server's limits to cmd.
func addLimitFlags(cmd *cobra.Command, cfg *binprototarget.ServeConfig) {
	f := cmd.Flags()
	f.IntVar(&cfg.MaxConns, "max-conns", cfg.MaxConns, "connections served at once (0: the library's default, 7/8 of the file-descriptor limit; negative: unbounded)")
	f.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", cfg.MaxConnsPerIP, "connections at once from one IP address (0: unbounded)")
	f.DurationVar(&cfg.IdleTimeout, "idle-timeout", cfg.IdleTimeout, "close a connection with no message dispatched for this long (negative: never)")
	f.Var(newByteSize(&cfg.MaxPayload, cfg.MaxPayload), "max-payload", "largest payload accepted; the default fits the 1 MiB benchmark payload with its length prefix (bench clients accept 4 MiB)")
	f.Var(newByteSize(&cfg.MaxBuffered, cfg.MaxBuffered), "max-buffered", "server-wide budget of frame bytes held beyond each connection's buffer (negative: unbounded)")
	f.Float64Var(&cfg.ConnMsgRate, "conn-msg-rate", cfg.ConnMsgRate, "messages per second per connection (0: off, the default, as bench's streams exceed any useful value)")
	f.Var(byteRate{&cfg.ConnByteRate}, "conn-byte-rate", "bytes per second per connection, e.g. 64MiB (0: off, the default)")
}
