package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/quickstart"
)

func init() {
	registerTarget("binproto", func(cfg bench.TargetConfig) (bench.Target, error) {
		return &binprotoTarget{addr: cfg.Addr}, nil
	})
	serveBinproto = runBinprotoServer
}

// The benchmark protocol: the quick-start types, echoed, plus one-way
// variants that are never answered and a count request for Flush.
const (
	sensorOneWay binproto.MessageType = 5 // SENSOR_DATA, no reply
	blobOneWay   binproto.MessageType = 6 // BENCHMARK, no reply
	countRequest binproto.MessageType = 7 // reply: one-way messages received on this connection
)

// counter is the reply to a count request.
type counter struct {
	N uint64 `binproto:"n,>Q"`
}

var counterCodec = binproto.MustCodec[counter]()

// benchProtocol returns the benchmark protocol. Its payload limit is raised
// to 4 MiB so that the 1 MiB variable-size run fits with its length prefix.
func benchProtocol(checksum, udp bool) (*binproto.Protocol, error) {
	o := quickstart.Options{Checksum: checksum, UDP: udp, Base: binproto.Config{MaxPayloadSize: 4 << 20}}
	qs, err := quickstart.Protocol(o)
	if err != nil {
		return nil, err
	}
	cfg := qs.Config()
	cfg.NotFoundType = 0 // re-derive from the header format
	cfg.Types[sensorOneWay] = quickstart.SensorCodec.Structure()
	cfg.Types[blobOneWay] = quickstart.BlobCodec.Structure()
	cfg.Types[countRequest] = counterCodec.Structure()
	return binproto.NewProtocol(cfg)
}

// newBenchServer returns the benchmark server: echo for the quick-start
// types, counted one-way messages, and the count request.
func newBenchServer(p *binproto.Protocol) *binproto.Server {
	srv := quickstart.EchoServer(p)
	var counts sync.Map // *binproto.Conn -> *uint64 guarded by the conn's read loop
	count := func(c *binproto.Conn) *uint64 {
		if n, ok := counts.Load(c); ok {
			return n.(*uint64)
		}
		n := new(uint64)
		counts.Store(c, n)
		go func() { <-c.Context().Done(); counts.Delete(c) }()
		return n
	}
	oneWay := func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		*count(m.Conn)++
		return binproto.NoReply, nil
	}
	srv.HandleFunc(sensorOneWay, oneWay)
	srv.HandleFunc(blobOneWay, oneWay)
	srv.HandleFunc(countRequest, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return binproto.Typed(countRequest, counterCodec, &counter{N: *count(m.Conn)}), nil
	})
	return srv
}

// binprotoTarget is the binproto side of every benchmark.
type binprotoTarget struct {
	addr   string // --addr; "" starts an embedded server
	proto  *binproto.Protocol
	srv    *binproto.Server // the embedded server, or nil
	served chan error       // the embedded server's Serve result
}

func (t *binprotoTarget) Name() string { return "binproto" }

func (t *binprotoTarget) Start(ctx context.Context) (bench.Endpoint, error) {
	p, err := benchProtocol(false, false)
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.proto = p
	if t.addr != "" {
		if err := t.check(ctx); err != nil {
			return bench.Endpoint{}, fmt.Errorf("binproto server at %s does not answer the benchmark protocol"+
				" (is it `binproto serve`, without --checksum, --udp or TLS?): %w", t.addr, err)
		}
		return bench.Endpoint{Addr: t.addr}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.srv = newBenchServer(p)
	t.served = make(chan error, 1)
	go func() { t.served <- t.srv.Serve(l) }()
	t.addr = l.Addr().String()
	return bench.Endpoint{Addr: t.addr, Embedded: true}, nil
}

// check makes sure that the external server at t.addr serves the
// benchmark protocol: a count request must be answered, as streams need.
func (t *binprotoTarget) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cl, err := binproto.Dial(ctx, t.proto, t.addr, nil)
	if err != nil {
		return err
	}
	defer cl.Close()
	_, err = (&binprotoClient{cl: cl}).Flush(ctx)
	return err
}

func (t *binprotoTarget) Dial(ctx context.Context) (bench.Client, error) {
	if t.proto == nil {
		return nil, errors.New("binproto target not started")
	}
	cl, err := binproto.Dial(ctx, t.proto, t.addr, nil)
	if err != nil {
		return nil, err
	}
	return &binprotoClient{cl: cl}, nil
}

func (t *binprotoTarget) Close() error {
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

// binprotoClient is one connection, used by one benchmark goroutine.
type binprotoClient struct {
	cl    *binproto.Client
	req   quickstart.Blob
	resp  quickstart.Blob
	batch []quickstart.Sensor
	blobs []quickstart.Blob
}

func (c *binprotoClient) Sensor(ctx context.Context, s bench.Sensor) (bench.Sensor, error) {
	in := toWire(s)
	var out quickstart.Sensor
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out)
	return fromWire(out), err
}

func (c *binprotoClient) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	c.req.Data = payload
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &c.req), quickstart.BlobCodec, &c.resp)
	c.req.Data = nil
	return c.resp.Data, err
}

func (c *binprotoClient) SendSensor(ctx context.Context, s bench.Sensor) error {
	in := toWire(s)
	return c.cl.Send(ctx, binproto.Typed(sensorOneWay, quickstart.SensorCodec, &in))
}

func (c *binprotoClient) Send(ctx context.Context, payload []byte) error {
	c.req.Data = payload
	err := c.cl.Send(ctx, binproto.Typed(blobOneWay, quickstart.BlobCodec, &c.req))
	c.req.Data = nil
	return err
}

func (c *binprotoClient) SendSensorBatch(ctx context.Context, batch []bench.Sensor) error {
	c.batch = c.batch[:0]
	for _, s := range batch {
		c.batch = append(c.batch, toWire(s))
	}
	return binproto.SendBatchTyped(ctx, c.cl, sensorOneWay, quickstart.SensorCodec, c.batch)
}

func (c *binprotoClient) SendBatch(ctx context.Context, payloads [][]byte) error {
	c.blobs = c.blobs[:0]
	for _, p := range payloads {
		c.blobs = append(c.blobs, quickstart.Blob{Data: p})
	}
	err := binproto.SendBatchTyped(ctx, c.cl, blobOneWay, quickstart.BlobCodec, c.blobs)
	clear(c.blobs) // keep no payload after returning
	return err
}

func (c *binprotoClient) Flush(ctx context.Context) (uint64, error) {
	var n counter
	_, err := binproto.RequestTyped(ctx, c.cl, binproto.Typed(countRequest, counterCodec, &counter{}), counterCodec, &n)
	return n.N, err
}

func (c *binprotoClient) WireBytes() uint64 {
	st := c.cl.Stats()
	return st.BytesIn + st.BytesOut
}

func (c *binprotoClient) Close() error { return c.cl.Close() }

// runBinprotoServer is `binproto serve`: the benchmark server until ctx ends.
func runBinprotoServer(ctx context.Context, cfg serveConfig, out io.Writer) error {
	p, err := benchProtocol(cfg.Checksum, cfg.UDP)
	if err != nil {
		return err
	}
	srv := newBenchServer(p)
	srv.Logger = slog.New(slog.NewTextHandler(out, nil))
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return err
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	// Listen here rather than in ListenAndServe: a busy port fails before
	// anything is logged, and the log names the port actually bound (--addr
	// HOST:0 picks a free one).
	errc := make(chan error, 1)
	var bound net.Addr
	if cfg.UDP {
		pc, err := net.ListenPacket("udp", cfg.Addr)
		if err != nil {
			return err
		}
		bound = pc.LocalAddr()
		go func() { errc <- srv.ServePacket(pc) }()
	} else {
		l, err := net.Listen("tcp", cfg.Addr)
		if err != nil {
			return err
		}
		bound = l.Addr()
		go func() { errc <- srv.Serve(l) }()
	}
	srv.Logger.Info("serving the benchmark protocol", "addr", bound.String(), "udp", cfg.UDP, "checksum", cfg.Checksum, "tls", srv.TLSConfig != nil)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, binproto.ErrServerClosed) {
		return err
	}
	return nil
}

func toWire(s bench.Sensor) quickstart.Sensor {
	return quickstart.Sensor{Sensor1: s.S1, Sensor2: s.S2, Sensor3: s.S3, Sensor4: s.S4}
}

func fromWire(s quickstart.Sensor) bench.Sensor {
	return bench.Sensor{S1: s.Sensor1, S2: s.Sensor2, S3: s.Sensor3, S4: s.Sensor4}
}
