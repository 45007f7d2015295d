package bench

import (
	"context"
)

// Sensor is the message of the fixed benchmarks: four float32 readings,
// 16 bytes of payload.
type Sensor struct {
	S1, S2, S3, S4 float32
}

// SensorPayloadBytes is the payload size of a Sensor, used for MB/s.
const SensorPayloadBytes = 16

// Target is one system under test, for example the binproto server or the
// HTTP/JSON baseline. Run calls Start once before any Dial, and Close once
// at the end. Dial may be called concurrently.
type Target interface {
	// Name is a short, stable identifier used in tables and results.json
	// ("binproto", "http").
	Name() string
	// Start makes the target ready: it starts an embedded server on a
	// loopback port, or checks that the external server it was configured
	// with is reachable.
	Start(ctx context.Context) (Endpoint, error)
	// Dial opens one client (one connection or session) to the target.
	Dial(ctx context.Context) (Client, error)
	// Close stops whatever Start started.
	Close() error
}

// Endpoint tells where a started target listens.
type Endpoint struct {
	// Addr is the host:port clients connect to.
	Addr string
	// Embedded is true when the server runs inside this process.
	Embedded bool
}

// Client is one connection to a target. A Client is used by one goroutine
// at a time. Request/response methods return the server's reply; the
// harness checks it against what was sent.
type Client interface {
	// Sensor sends s and returns the reading the server echoed back.
	Sensor(ctx context.Context, s Sensor) (Sensor, error)
	// Echo sends payload and returns the payload the server echoed back.
	// The returned slice may be reused by the next call.
	Echo(ctx context.Context, payload []byte) ([]byte, error)
	// SendSensor sends s one-way: the server answers nothing.
	SendSensor(ctx context.Context, s Sensor) error
	// Send sends payload one-way. The client must not keep payload after
	// returning.
	Send(ctx context.Context, payload []byte) error
	// Flush waits until the server has handled every one-way message sent
	// before it, and returns how many one-way messages from this client the
	// server has received since Dial. It is how a stream's delivered
	// messages are counted.
	Flush(ctx context.Context) (received uint64, err error)
	// WireBytes returns the bytes this client has written to and read from
	// the network so far, framing and headers included.
	WireBytes() uint64
	// Close closes the connection.
	Close() error
}

// BatchSender is implemented by clients that can send many one-way
// messages at once (for example in one write). Streams use it when present.
type BatchSender interface {
	// SendSensorBatch sends every reading one-way.
	SendSensorBatch(ctx context.Context, batch []Sensor) error
	// SendBatch sends every payload one-way. Like Send, it must not keep
	// the payloads after returning.
	SendBatch(ctx context.Context, payloads [][]byte) error
}
