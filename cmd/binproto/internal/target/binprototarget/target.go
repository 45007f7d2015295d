package binprototarget

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/quickstart"
)

// Name is the target's name in tables and results.json.
const Name = "binproto"

// Config configures a Target.
type Config struct {
	// Addr is the host:port of a running benchmark server (`binproto
	// serve`); empty means start an embedded server on 127.0.0.1.
	Addr string
	// Token, when set, authenticates every connection to the server at
	// Addr with it (`binproto serve --token`).
	Token string
	// Observe makes the clients, and the embedded server, report to the
	// Prometheus adapter (`bench --metrics-adapter`): its overhead.
	Observe bool
}

// Target is the binproto side of every benchmark, as a bench.Target.
type Target struct {
	addr  string // Config.Addr; "" starts an embedded server
	token string // Config.Token
	obs   bool   // Config.Observe
	proto *binproto.Protocol
	srv   *binproto.Server // the embedded server, or nil
	// observer is the Prometheus adapter of Config.Observe, or nil.
	observer binproto.Observer
	served   chan error // the embedded server's Serve result
}

var _ bench.Target = (*Target)(nil)

// New returns a target that is not started yet.
func New(cfg Config) *Target { return &Target{addr: cfg.Addr, token: cfg.Token, obs: cfg.Observe} }

// options returns the client options of a connection to the server.
func (t *Target) options() *binproto.ClientOptions {
	o := &binproto.ClientOptions{Observer: t.observer}
	if t.token != "" && t.srv == nil {
		o.Auth = binproto.TokenCredentials{Types: AuthTypes, Token: []byte(t.token)}
	}
	return o
}

// Name implements bench.Target.
func (t *Target) Name() string { return Name }

// Start implements bench.Target. With no address configured it serves the
// benchmark protocol on a free port of 127.0.0.1; otherwise it checks that
// the configured server answers a count request, as streams need.
func (t *Target) Start(ctx context.Context) (bench.Endpoint, error) {
	p, err := Protocol(false, false)
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.proto = p
	if t.obs {
		t.observer = NewObserver(p) // registered nowhere: only its cost is measured
	}
	if t.addr != "" {
		if err := t.check(ctx); err != nil {
			return bench.Endpoint{}, fmt.Errorf("binproto server at %s does not answer the benchmark protocol"+
				" (is it `binproto serve`, without --checksum, --udp or TLS, and with the same --token?): %w", t.addr, err)
		}
		return bench.Endpoint{Addr: t.addr}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.srv = NewServer(p)
	t.srv.Observer = t.observer
	t.served = make(chan error, 1)
	go func() { t.served <- t.srv.Serve(l) }()
	t.addr = l.Addr().String()
	return bench.Endpoint{Addr: t.addr, Embedded: true}, nil
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
	_, err = (&client{cl: cl}).Flush(ctx)
	return err
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
	return &client{cl: cl}, nil
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
	if serveErr := <-t.served; !errors.Is(serveErr, binproto.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	t.srv = nil
	return err
}

// client is one connection, used by one benchmark goroutine. It
// implements bench.Client and bench.BatchSender.
type client struct {
	cl    *binproto.Client
	req   quickstart.Blob
	resp  quickstart.Blob
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
	c.req.Data = payload
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &c.req), quickstart.BlobCodec, &c.resp)
	c.req.Data = nil
	return c.resp.Data, err
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

func (c *client) WireBytes() uint64 {
	st := c.cl.Stats()
	return st.BytesIn + st.BytesOut
}

func (c *client) Close() error { return c.cl.Close() }

func toWire(s bench.Sensor) quickstart.Sensor {
	return quickstart.Sensor{Sensor1: s.S1, Sensor2: s.S2, Sensor3: s.S3, Sensor4: s.S4}
}

func fromWire(s quickstart.Sensor) bench.Sensor {
	return bench.Sensor{S1: s.Sensor1, S2: s.Sensor2, S3: s.Sensor3, S4: s.Sensor4}
}
