package grpctarget

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/target/wirecount"
)

// Name is the target's name in tables and results.json.
const Name = "grpc"

// connectTimeout bounds the wait for a new connection to be ready.
const connectTimeout = 10 * time.Second

// stopTimeout bounds the graceful stop of the embedded server.
const stopTimeout = 2 * time.Second

// Config configures a Target.
type Config struct {
	// Name overrides Name.
	Name string
	// Addr is the host:port of a running server of ServiceDesc (with
	// Codec); empty means start an embedded one on 127.0.0.1.
	Addr string
}

// Target is the grpc-go peer as a bench.Target and bench.SharedDialer:
// every client, and every shared client, is one grpc.ClientConn and so one
// HTTP/2 connection.
type Target struct {
	name   string
	addr   string // the configured or embedded server's address
	srv    *grpc.Server
	served chan error
}

var (
	_ bench.Target       = (*Target)(nil)
	_ bench.SharedDialer = (*Target)(nil)
)

// New returns a target that is not started yet.
func New(cfg Config) *Target {
	name := cfg.Name
	if name == "" {
		name = Name
	}
	return &Target{name: name, addr: cfg.Addr}
}

// Name implements bench.Target.
func (t *Target) Name() string { return t.name }

// Start implements bench.Target. With no address configured it serves the
// benchmark service on a free port of 127.0.0.1; otherwise it checks that
// the configured server answers an Echo.
func (t *Target) Start(ctx context.Context) (bench.Endpoint, error) {
	if t.addr != "" {
		if err := t.check(ctx); err != nil {
			return bench.Endpoint{}, fmt.Errorf("gRPC server at %s does not answer %s: %w", t.addr, MethodEcho, err)
		}
		return bench.Endpoint{Addr: t.addr}, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return bench.Endpoint{}, err
	}
	t.srv = NewServer()
	t.served = make(chan error, 1)
	go func() { t.served <- t.srv.Serve(l) }()
	t.addr = l.Addr().String()
	return bench.Endpoint{Addr: t.addr, Embedded: true}, nil
}

func (t *Target) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cc, err := dial(ctx, t.addr)
	if err != nil {
		return err
	}
	defer cc.Close()
	_, err = (&caller{cc: cc.ClientConn}).Echo(ctx, []byte("check"))
	return err
}

// Dial implements bench.Target: one ClientConn, one connection.
func (t *Target) Dial(ctx context.Context) (bench.Client, error) {
	if t.addr == "" {
		return nil, errors.New("grpc target not started")
	}
	cc, err := dial(ctx, t.addr)
	if err != nil {
		return nil, err
	}
	return &client{conn: cc, echo: caller{cc: cc.ClientConn}, sensor: make([]byte, bench.SensorPayloadBytes)}, nil
}

// DialShared implements bench.SharedDialer: one ClientConn, so one HTTP/2
// connection, for every caller.
func (t *Target) DialShared(ctx context.Context) (bench.SharedClient, error) {
	if t.addr == "" {
		return nil, errors.New("grpc target not started")
	}
	return dial(ctx, t.addr)
}

// Close implements bench.Target: it stops the embedded server, gracefully
// within stopTimeout.
func (t *Target) Close() error {
	if t.srv == nil {
		return nil
	}
	stopped := make(chan struct{})
	go func() { t.srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(stopTimeout):
		t.srv.Stop()
		<-stopped
	}
	err := <-t.served
	t.srv = nil
	return err
}

// conn is one ClientConn with a count of its connection's bytes. It
// implements bench.SharedClient.
type conn struct {
	*grpc.ClientConn
	wire *wirecount.Dialer
}

// dial opens a ClientConn to addr with grpc-go's defaults (Codec forced,
// the received-message limit raised) and waits until it is ready.
func dial(ctx context.Context, addr string) (*conn, error) {
	wire := new(wirecount.Dialer)
	dialer := func(ctx context.Context, addr string) (net.Conn, error) { return wire.DialContext(ctx, "tcp", addr) }
	cc, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(Codec{}), grpc.MaxCallRecvMsgSize(maxMessage)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	cc.Connect()
	for s := cc.GetState(); s != connectivity.Ready; s = cc.GetState() {
		if !cc.WaitForStateChange(ctx, s) {
			_ = cc.Close()
			return nil, fmt.Errorf("connect to %s: %w (last state %v)", addr, ctx.Err(), s)
		}
	}
	return &conn{ClientConn: cc, wire: wire}, nil
}

// NewCaller implements bench.SharedClient.
func (c *conn) NewCaller() bench.Caller { return &caller{cc: c.ClientConn} }

// WireBytes implements bench.SharedClient: the bytes of the connection,
// HTTP/2 frames and headers included.
func (c *conn) WireBytes() uint64 { return c.wire.Bytes() }

// caller makes the unary calls of one goroutine with its own request and
// reply Frames. It implements bench.Caller.
type caller struct {
	cc        *grpc.ClientConn
	req, resp Frame
}

func (c *caller) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	return c.invoke(ctx, MethodEcho, payload)
}

func (c *caller) SlowEcho(ctx context.Context, payload []byte) ([]byte, error) {
	return c.invoke(ctx, MethodSlowEcho, payload)
}

func (c *caller) invoke(ctx context.Context, method string, payload []byte) ([]byte, error) {
	c.req.Data = payload
	err := c.cc.Invoke(ctx, method, &c.req, &c.resp)
	c.req.Data = nil
	return c.resp.Data, err
}

// client is one connection used by one benchmark goroutine; it implements
// bench.Client. One-way messages go on a client stream of Stream, opened
// by the first Send after a Flush and living in that Send's context; Flush
// closes it and adds the count the server answers.
type client struct {
	conn     *conn
	echo     caller
	sensor   []byte
	send     Frame
	stream   grpc.ClientStream
	cancel   context.CancelFunc // the stream's
	received uint64             // confirmed by the Flushes so far
}

var _ bench.Client = (*client)(nil)

func (c *client) Sensor(ctx context.Context, s bench.Sensor) (bench.Sensor, error) {
	putSensor(c.sensor, s)
	got, err := c.echo.Echo(ctx, c.sensor)
	if err != nil {
		return bench.Sensor{}, err
	}
	if len(got) != bench.SensorPayloadBytes {
		return bench.Sensor{}, fmt.Errorf("sensor reply of %d bytes", len(got))
	}
	return getSensor(got), nil
}

func (c *client) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	return c.echo.Echo(ctx, payload)
}

func (c *client) SendSensor(ctx context.Context, s bench.Sensor) error {
	putSensor(c.sensor, s)
	return c.Send(ctx, c.sensor)
}

func (c *client) Send(ctx context.Context, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.stream == nil {
		sctx, cancel := context.WithCancel(ctx)
		st, err := c.conn.NewStream(sctx, &ServiceDesc.Streams[0], MethodStream)
		if err != nil {
			cancel()
			return err
		}
		c.stream, c.cancel = st, cancel
	}
	c.send.Data = payload
	err := c.stream.SendMsg(&c.send) // Codec copies payload
	c.send.Data = nil
	if err != nil {
		c.endStream()
	}
	return err
}

func (c *client) Flush(ctx context.Context) (uint64, error) {
	if c.stream == nil {
		return c.received, nil
	}
	defer c.endStream()
	stop := context.AfterFunc(ctx, c.cancel)
	defer stop()
	if err := c.stream.CloseSend(); err != nil {
		return c.received, err
	}
	var reply Frame
	if err := c.stream.RecvMsg(&reply); err != nil {
		return c.received, err
	}
	if len(reply.Data) != 8 {
		return c.received, fmt.Errorf("count reply of %d bytes", len(reply.Data))
	}
	c.received += binary.BigEndian.Uint64(reply.Data)
	return c.received, nil
}

func (c *client) endStream() {
	if c.cancel != nil {
		c.cancel()
	}
	c.stream, c.cancel = nil, nil
}

func (c *client) WireBytes() uint64 { return c.conn.WireBytes() }

func (c *client) Close() error {
	c.endStream()
	return c.conn.Close()
}

// putSensor writes s into b (16 bytes) as four big-endian float32s.
func putSensor(b []byte, s bench.Sensor) {
	for i, v := range [4]float32{s.S1, s.S2, s.S3, s.S4} {
		binary.BigEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
}

// getSensor reads a reading written by putSensor.
func getSensor(b []byte) bench.Sensor {
	f := func(i int) float32 { return math.Float32frombits(binary.BigEndian.Uint32(b[4*i:])) }
	return bench.Sensor{S1: f(0), S2: f(1), S3: f(2), S4: f(3)}
}
