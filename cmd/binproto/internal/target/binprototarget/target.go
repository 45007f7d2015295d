package binprototarget

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
	"github.com/binproto/binproto/quickstart"
)

// Name is the target's name in tables and results.json.
const Name = "binproto"

// NativeName is the name of the native profile's target, once it exists.
// TODO(native): the CLI adds it (cli/targets.go) with New(Config{Name:
// NativeName, Client: binproto.ClientOptions{Profile: binproto.Native}}) or
// whatever the core names the profile.
const NativeName = "binproto-native"

// SharedMaxConcurrentHandlers is the MaxConcurrentHandlers of the embedded
// server that the shared-connection benchmarks (DialShared) use: as many
// handlers of the one connection at once as there are callers.
const SharedMaxConcurrentHandlers = 64

// Config configures a Target.
type Config struct {
	// Name overrides Name, for a second binproto target (a profile).
	Name string
	// Addr is the host:port of a running benchmark server (`binproto
	// serve`); empty means start an embedded server on 127.0.0.1.
	Addr string
	// Token, when set, authenticates every connection to the server at
	// Addr with it (`binproto serve --token`).
	Token string
	// Schema, when set, makes the target speak the schema's protocol (the
	// server at Addr is then `binproto serve --schema` with the same file)
	// for `bench --schema`: its clients implement bench.MessageClient.
	Schema *schemafile.Schema
	// Client is the base of every client's options (a profile, for
	// instance); the zero value is the library's defaults.
	Client binproto.ClientOptions
	// Server, when set, tunes every embedded server before it serves.
	Server func(*binproto.Server)
	// Observe makes the clients, and the embedded server, report to the
	// Prometheus adapter (`bench --metrics-adapter`): its overhead.
	Observe bool
}

// Target is the binproto side of every benchmark, as a bench.Target.
// Dial connects to a server that runs handlers one at a time per
// connection, as the Python package does; DialShared to one that runs up to
// SharedMaxConcurrentHandlers of them at once (both embedded, unless an
// address is configured).
type Target struct {
	cfg    Config
	addr   string // Config.Addr, or the embedded server's address
	proto  *binproto.Protocol
	srv    *embedded // the embedded server, or nil
	shared *embedded // the embedded server of DialShared, started by its first call
	// observer is the Prometheus adapter of Config.Observe, or nil.
	observer binproto.Observer
}

var (
	_ bench.Target       = (*Target)(nil)
	_ bench.SharedDialer = (*Target)(nil)
)

// New returns a target that is not started yet.
func New(cfg Config) *Target { return &Target{cfg: cfg, addr: cfg.Addr} }

// options returns the client options of a connection to the server.
func (t *Target) options() *binproto.ClientOptions {
	o := t.cfg.Client
	o.Observer = t.observer
	if t.cfg.Token != "" && t.srv == nil {
		o.Auth = binproto.TokenCredentials{Types: AuthTypes, Token: []byte(t.cfg.Token)}
	}
	return &o
}

// Name implements bench.Target.
func (t *Target) Name() string {
	if t.cfg.Name != "" {
		return t.cfg.Name
	}
	return Name
}

// Start implements bench.Target. With no address configured it serves the
// benchmark protocol on a free port of 127.0.0.1; otherwise it checks that
// the configured server answers a count request, as streams need.
func (t *Target) Start(ctx context.Context) (bench.Endpoint, error) {
	p, err := t.protocol()
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.proto = p
	if t.cfg.Observe {
		t.observer = NewObserver(p) // registered nowhere: only its cost is measured
	}
	if t.addr != "" {
		if err := t.check(ctx); err != nil {
			return bench.Endpoint{}, fmt.Errorf("binproto server at %s does not answer the benchmark protocol"+
				" (is it `binproto serve`, without --checksum, --udp or TLS, and with the same --token?): %w", t.addr, err)
		}
		return bench.Endpoint{Addr: t.addr}, nil
	}
	if t.srv, err = t.serve(1); err != nil {
		return bench.Endpoint{}, err
	}
	t.addr = t.srv.addr
	return bench.Endpoint{Addr: t.addr, Embedded: true}, nil
}

// serve starts an embedded server running up to handlers handlers per
// connection at once.
func (t *Target) serve(handlers int) (*embedded, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e := &embedded{srv: t.newServer(t.proto), served: make(chan error, 1), addr: l.Addr().String()}
	e.srv.MaxConcurrentHandlers = handlers
	e.srv.Observer = t.observer
	if t.cfg.Server != nil {
		t.cfg.Server(e.srv)
	}
	go func() { e.served <- e.srv.Serve(l) }()
	return e, nil
}

// check makes sure that the external server at t.addr serves the
// benchmark protocol.
func (t *Target) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, t.proto, t.addr, t.options())
	if err != nil {
		return err
	}
	defer cl.Close()
	return t.probe(ctx, &client{cl: cl})
}

// Dial implements bench.Target: one connection per client.
func (t *Target) Dial(ctx context.Context) (bench.Client, error) {
	if t.proto == nil {
		return nil, errors.New("binproto target not started")
	}
	cl, err := binproto.Dial(ctx, t.proto, t.addr, t.options())
	if err != nil {
		return nil, err
	}
	return &client{cl: cl, echo: caller{cl: cl}}, nil
}

// DialShared implements bench.SharedDialer: one client, one connection,
// for every caller. The embedded server it connects to runs up to
// SharedMaxConcurrentHandlers handlers of the connection at once (replies
// still go out in request order); an external server runs what it was
// configured with.
func (t *Target) DialShared(ctx context.Context) (bench.SharedClient, error) {
	if t.proto == nil {
		return nil, errors.New("binproto target not started")
	}
	addr := t.addr
	if t.srv != nil {
		if t.shared == nil {
			e, err := t.serve(SharedMaxConcurrentHandlers)
			if err != nil {
				return nil, err
			}
			t.shared = e
		}
		addr = t.shared.addr
	}
	cl, err := binproto.Dial(ctx, t.proto, addr, t.options())
	if err != nil {
		return nil, err
	}
	return sharedClient{cl}, nil
}

// Close implements bench.Target: it shuts the embedded servers down.
func (t *Target) Close() error {
	err := errors.Join(t.srv.close(), t.shared.close())
	t.srv, t.shared = nil, nil
	return err
}

// embedded is a benchmark server running in this process.
type embedded struct {
	srv    *binproto.Server
	served chan error // Serve's result
	addr   string
}

// close shuts e down; a nil e is not running.
func (e *embedded) close() error {
	if e == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	if err != nil {
		_ = e.srv.Close()
	}
	if serveErr := <-e.served; !errors.Is(serveErr, binproto.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	return err
}

// sharedClient is one client shared by the callers of a shared-connection
// benchmark; it implements bench.SharedClient.
type sharedClient struct{ cl *binproto.Client }

func (s sharedClient) NewCaller() bench.Caller { return &caller{cl: s.cl} }

func (s sharedClient) WireBytes() uint64 { return wireBytes(s.cl) }

func (s sharedClient) Close() error { return s.cl.Close() }

// caller makes the echo requests of one goroutine, with its own request
// and reply values; it implements bench.Caller.
type caller struct {
	cl        *binproto.Client
	req, resp quickstart.Blob
}

func (c *caller) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	return c.request(ctx, quickstart.Benchmark, payload)
}

func (c *caller) SlowEcho(ctx context.Context, payload []byte) ([]byte, error) {
	return c.request(ctx, slowEcho, payload)
}

// request sends payload as a message of type t and returns the echoed data.
func (c *caller) request(ctx context.Context, t binproto.MessageType, payload []byte) ([]byte, error) {
	c.req.Data = payload
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(t, quickstart.BlobCodec, &c.req), quickstart.BlobCodec, &c.resp)
	c.req.Data = nil
	return c.resp.Data, err
}

func wireBytes(cl *binproto.Client) uint64 {
	st := cl.Stats()
	return st.BytesIn + st.BytesOut
}

// client is one connection, used by one benchmark goroutine. It
// implements bench.Client and bench.BatchSender.
type client struct {
	cl    *binproto.Client
	echo  caller
	req   quickstart.Blob // of one-way sends
	batch []quickstart.Sensor
	blobs []quickstart.Blob
}

var (
	_ bench.Client      = (*client)(nil)
	_ bench.BatchSender = (*client)(nil)
)

func (c *client) Sensor(ctx context.Context, s bench.Sensor) (bench.Sensor, error) {
	in := toWire(s)
	var out quickstart.Sensor
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out)
	return fromWire(out), err
}

func (c *client) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	return c.echo.Echo(ctx, payload)
}

func (c *client) SendSensor(ctx context.Context, s bench.Sensor) error {
	in := toWire(s)
	return c.cl.Send(ctx, binproto.Typed(sensorOneWay, quickstart.SensorCodec, &in))
}

func (c *client) Send(ctx context.Context, payload []byte) error {
	c.req.Data = payload
	err := c.cl.Send(ctx, binproto.Typed(blobOneWay, quickstart.BlobCodec, &c.req))
	c.req.Data = nil
	return err
}

func (c *client) SendSensorBatch(ctx context.Context, batch []bench.Sensor) error {
	c.batch = c.batch[:0]
	for _, s := range batch {
		c.batch = append(c.batch, toWire(s))
	}
	return binproto.SendBatchTyped(ctx, c.cl, sensorOneWay, quickstart.SensorCodec, c.batch)
}

func (c *client) SendBatch(ctx context.Context, payloads [][]byte) error {
	c.blobs = c.blobs[:0]
	for _, p := range payloads {
		c.blobs = append(c.blobs, quickstart.Blob{Data: p})
	}
	err := binproto.SendBatchTyped(ctx, c.cl, blobOneWay, quickstart.BlobCodec, c.blobs)
	clear(c.blobs) // keep no payload after returning
	return err
}

func (c *client) Flush(ctx context.Context) (uint64, error) {
	var n counter
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(countRequest, counterCodec, &counter{}), counterCodec, &n)
	return n.N, err
}

func (c *client) WireBytes() uint64 { return wireBytes(c.cl) }

func (c *client) Close() error { return c.cl.Close() }

func toWire(s bench.Sensor) quickstart.Sensor {
	return quickstart.Sensor{Sensor1: s.S1, Sensor2: s.S2, Sensor3: s.S3, Sensor4: s.S4}
}

func fromWire(s quickstart.Sensor) bench.Sensor {
	return bench.Sensor{S1: s.Sensor1, S2: s.Sensor2, S3: s.Sensor3, S4: s.Sensor4}
}
