package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
)

// callFlags holds the settings of `binproto call`.
type callFlags struct {
	schema, typ, json string
	fields            []string
	addr              string
	tls, insecure     bool
	tlsCA, serverName string
	token, checksum   string
	timeout           time.Duration
}

// newCallCmd builds `binproto call`.
func newCallCmd() *cobra.Command {
	var cf callFlags
	cmd := &cobra.Command{
		Use:   "call",
		Short: "Send one message to a server and print the reply as JSON",
		Long: "call sends one message of a schema file's type, given as a JSON object (--json) or as\n" +
			"name=value pairs (--field, repeated), to a binproto server, and prints the reply as one JSON\n" +
			"line: {\"type\":NAME,\"code\":N,\"fields\":{...}}. Numbers are JSON numbers (floats may also be\n" +
			"\"NaN\", \"Inf\", \"-Inf\"), bytes are base64 in --json and plain text in --field.",
		Example: "  binproto call --schema gateway.yaml --type log --json '{\"device_id\":7,\"level\":2,\"message\":\"door\",\"context\":\"\"}'\n" +
			"  binproto call --schema gateway.yaml --type ack --field seq=9 --field status=0 --addr 127.0.0.1:7700",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cf.run(cmd) },
	}
	f := cmd.Flags()
	f.StringVar(&cf.schema, "schema", "", "schema `FILE` of the server's protocol (required)")
	f.StringVar(&cf.typ, "type", "", "message type `NAME` to send (required)")
	f.StringVar(&cf.json, "json", "", "the message as a JSON `OBJECT`")
	f.StringArrayVar(&cf.fields, "field", nil, "a field as `NAME=VALUE` (repeat for every field)")
	f.StringVar(&cf.addr, "addr", "127.0.0.1:7700", "server `HOST:PORT`")
	f.BoolVar(&cf.tls, "tls", false, "speak TLS")
	f.StringVar(&cf.tlsCA, "tls-ca", "", "trust the CA certificates of `FILE` (PEM); implies --tls")
	f.StringVar(&cf.serverName, "server-name", "", "the name the server's certificate must have (default: the host of --addr)")
	f.BoolVar(&cf.insecure, "insecure-skip-verify", false, "do not verify the server's certificate (testing only); implies --tls")
	f.StringVar(&cf.token, "token", "", "authenticate with `TOKEN` first (`binproto serve --token`)")
	f.StringVar(&cf.checksum, "checksum", "", "override the schema's checksum: none, crc32 or crc32c")
	f.DurationVar(&cf.timeout, "timeout", 10*time.Second, "bound on the whole call: connect, authenticate, send, receive")
	return cmd
}

func (cf *callFlags) run(cmd *cobra.Command) error {
	s, err := loadSchema(cf.schema)
	if err != nil {
		return err
	}
	t, values, err := cf.message(s)
	if err != nil {
		return err
	}
	if err := checksumFlag(cf.checksum); err != nil {
		return err
	}
	if cf.timeout <= 0 {
		return usagef("--timeout must be positive, got %v", cf.timeout)
	}
	p, err := binprototarget.SchemaProtocol(s, binprototarget.SchemaOptions{Token: cf.token != "", Checksum: cf.checksum})
	if err != nil {
		return usageError{err}
	}
	opts, err := cf.clientOptions()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), cf.timeout)
	defer cancel()
	cl, err := binproto.Dial(ctx, p, cf.addr, opts)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cf.addr, err)
	}
	defer cl.Close()
	reply, err := cl.Request(ctx, binproto.Msg(t.MessageType(), values))
	var nf *binproto.NotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("the server at %s answered not-found: it has no handler for type %s (%d)", cf.addr, t.Name, t.Code)
	}
	if err != nil {
		return fmt.Errorf("call %s: %w", t.Name, err)
	}
	rt := s.TypeByCode(uint64(reply.Type))
	fields, err := reply.Fields()
	if err != nil {
		return fmt.Errorf("reply of type %d: %w", reply.Type, err)
	}
	line := rt.AppendJSON(fmt.Appendf(nil, `{"type":%s,"code":%d,"fields":`, strconv.Quote(rt.Name), rt.Code), fields)
	_, err = cmd.OutOrStdout().Write(append(line, "}\n"...))
	return err
}

// message returns the type and values the flags give.
func (cf *callFlags) message(s *schemafile.Schema) (*schemafile.Type, map[string]any, error) {
	if cf.typ == "" {
		return nil, nil, usagef("--type is required (types: %v)", s.TypeNames())
	}
	t := s.Type(cf.typ)
	if t == nil {
		return nil, nil, usagef("--type: %s has no type %q (types: %v)", cf.schema, cf.typ, s.TypeNames())
	}
	var values map[string]any
	var err error
	switch {
	case cf.json != "" && len(cf.fields) > 0:
		return nil, nil, usagef("give the message with --json or with --field, not both")
	case cf.json != "":
		values, err = t.FromJSON([]byte(cf.json))
	default:
		values, err = t.FromPairs(cf.fields)
	}
	if err != nil {
		return nil, nil, usageError{err}
	}
	return t, values, nil
}

// clientOptions returns the TLS and authentication options of the flags.
func (cf *callFlags) clientOptions() (*binproto.ClientOptions, error) {
	opts := &binproto.ClientOptions{}
	if cf.tls || cf.tlsCA != "" || cf.insecure || cf.serverName != "" {
		host, _, err := net.SplitHostPort(cf.addr)
		if err != nil {
			return nil, usagef("--addr: %v", err)
		}
		tc := &tls.Config{ServerName: host, InsecureSkipVerify: cf.insecure} //nolint:gosec // only on request, for testing
		if cf.serverName != "" {
			tc.ServerName = cf.serverName
		}
		if cf.tlsCA != "" {
			pem, err := os.ReadFile(cf.tlsCA)
			if err != nil {
				return nil, usagef("--tls-ca: %v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, usagef("--tls-ca: no PEM certificate in %s", cf.tlsCA)
			}
		}
		opts.TLSConfig = tc
	}
	if cf.token != "" {
		opts.Auth = binproto.TokenCredentials{Types: binprototarget.AuthTypes, Token: []byte(cf.token)}
	}
	return opts, nil
}
