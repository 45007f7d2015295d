package binprototarget

import (
	"context"
	"fmt"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// SchemaOptions tunes SchemaProtocol.
type SchemaOptions struct {
	// Token declares the token-authentication types (AuthTypes), which must
	// then not be codes of the schema.
	Token bool
	// UDP serves over UDP.
	UDP bool
	// MaxPayload overrides the schema's max_payload when positive.
	MaxPayload int
	// IdleTimeout is the server's idle timeout; zero: the library default.
	IdleTimeout time.Duration
	// Checksum overrides the schema's checksum unless empty:
	// schemafile.ChecksumNone, ChecksumCRC32 or ChecksumCRC32C.
	Checksum string
}

// SchemaProtocol returns the protocol of schema s: its types, any of which
// may answer any request (a client of a schema's server does not know
// which types reply to which), and the options of o.
func SchemaProtocol(s *schemafile.Schema, o SchemaOptions) (*binproto.Protocol, error) {
	cfg := s.Config()
	if o.Checksum != "" {
		c := *s
		c.Checksum = o.Checksum
		cfg.Checksum = c.ChecksumFunc()
	}
	if o.MaxPayload > 0 {
		cfg.MaxPayloadSize = o.MaxPayload
	}
	cfg.IdleTimeout = o.IdleTimeout
	if o.UDP {
		cfg.Transport = binproto.UDP
	}
	all := make([]binproto.MessageType, 0, len(s.Types))
	for _, t := range s.Types {
		all = append(all, t.MessageType())
	}
	cfg.Replies = make(map[binproto.MessageType][]binproto.MessageType, len(all))
	for _, t := range all {
		cfg.Replies[t] = all
	}
	if o.Token {
		for _, c := range []binproto.MessageType{AuthTypes.Token, AuthTypes.OK} {
			if t := s.TypeByCode(uint64(c)); t != nil {
				return nil, fmt.Errorf("token authentication uses message types %d and %d, but %s has type %s with code %d",
					AuthTypes.Token, AuthTypes.OK, s.File, t.Name, c)
			}
		}
		AuthTypes.Declare(&cfg)
	}
	return binproto.NewProtocol(cfg)
}

// NewSchemaServer returns a server of p, the protocol of s, that echoes
// every message of every type of s: it decodes the message with the
// type's structure and sends the values back, as the Python package's
// echo servers do.
func NewSchemaServer(p *binproto.Protocol, s *schemafile.Schema) *binproto.Server {
	srv := &binproto.Server{Protocol: p}
	echo := func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		return binproto.Msg(m.Type, f), nil
	}
	for _, t := range s.Types {
		srv.HandleFunc(t.MessageType(), echo)
	}
	return srv
}

// Request implements bench.MessageClient: it sends a message of the type
// with code t and returns the values of the reply.
func (c *client) Request(ctx context.Context, t uint64, values map[string]any) (map[string]any, error) {
	reply, err := c.cl.Request(ctx, binproto.Msg(binproto.MessageType(t), values))
	if err != nil {
		return nil, err
	}
	return reply.Fields()
}

// protocol returns the protocol of the target's clients and embedded
// server: the benchmark protocol, or its schema's.
func (t *Target) protocol() (*binproto.Protocol, error) {
	if t.schema != nil {
		return SchemaProtocol(t.schema, SchemaOptions{Token: t.token != ""})
	}
	return Protocol(false, false)
}

// newServer returns the embedded server of protocol p.
func (t *Target) newServer(p *binproto.Protocol) *binproto.Server {
	if t.schema != nil {
		return NewSchemaServer(p, t.schema)
	}
	return NewServer(p)
}

// probe checks that the server at the other end of c answers the
// target's protocol: a count request, or an echo of a schema message.
func (t *Target) probe(ctx context.Context, c *client) error {
	if t.schema == nil {
		_, err := c.Flush(ctx)
		return err
	}
	typ := t.schema.Types[0]
	sent := typ.Sample(0, 1)
	got, err := c.Request(ctx, typ.Code, sent)
	if err == nil && !typ.Equal(sent, got) {
		err = fmt.Errorf("type %s: the reply %v is no echo of %v", typ.Name, got, sent)
	}
	return err
}
