package httpjson

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// DefaultName is the target name of the baseline.
const DefaultName = "http"

// Config configures a Target.
type Config struct {
	// Name overrides DefaultName (tests use two HTTP targets side by side).
	Name string
	// Addr is the host:port of an already running server (one serving
	// Handler); empty means start an embedded server on 127.0.0.1.
	Addr string
	// Schema, when set, makes the embedded server echo its messages too
	// (NewSchemaHandler), and the clients implement bench.MessageClient.
	Schema *schemafile.Schema
}

// Target is the HTTP/JSON baseline as a bench.Target.
type Target struct {
	name     string
	addr     string // configured external address, or ""
	dialAddr string // address clients connect to, set by Start
	srv      *http.Server
	schema   *schemafile.Schema
	errc     chan error
}

var _ bench.Target = (*Target)(nil)

// New returns a target that is not started yet.
func New(cfg Config) *Target {
	name := cfg.Name
	if name == "" {
		name = DefaultName
	}
	return &Target{name: name, addr: cfg.Addr, schema: cfg.Schema}
}

// Name implements bench.Target.
func (t *Target) Name() string { return t.name }

// Start implements bench.Target. With no address configured it serves
// Handler on a free port of 127.0.0.1; otherwise it checks that the
// configured server answers /count.
func (t *Target) Start(ctx context.Context) (bench.Endpoint, error) {
	if t.addr != "" {
		c := newClient(t.addr)
		defer c.Close()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := c.Flush(ctx); err != nil {
			return bench.Endpoint{}, fmt.Errorf("HTTP/JSON server at %s does not answer: %w", t.addr, err)
		}
		t.dialAddr = t.addr
		return bench.Endpoint{Addr: t.addr}, nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Endpoint{}, err
	}
	h := NewHandler()
	if t.schema != nil {
		h = NewSchemaHandler(t.schema)
	}
	t.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	t.errc = make(chan error, 1)
	go func() { t.errc <- t.srv.Serve(ln) }()
	t.dialAddr = ln.Addr().String()
	return bench.Endpoint{Addr: t.dialAddr, Embedded: true}, nil
}

// Dial implements bench.Target. The connection opens on the first message.
func (t *Target) Dial(context.Context) (bench.Client, error) {
	if t.dialAddr == "" {
		return nil, errors.New("target not started")
	}
	c := newClient(t.dialAddr)
	c.schema = t.schema
	return c, nil
}

// Close implements bench.Target: it shuts the embedded server down.
func (t *Target) Close() error {
	if t.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := t.srv.Shutdown(ctx)
	if err != nil {
		_ = t.srv.Close()
	}
	if serveErr := <-t.errc; !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	t.srv, t.dialAddr = nil, ""
	return err
}
