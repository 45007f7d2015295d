// Package quickstart holds the message types of the Python binary_protocol
// package's quick start, shared by binproto's examples, its benchmark suite
// and its tests: a Go server built on it serves the Python examples'
// clients as they are.
//
//	SENSOR_DATA     = 1  four ">f" fields sensor1..sensor4 (fixed, 16 bytes)
//	STATUS          = 2  ">I" status_code + str message (variable)
//	BENCHMARK       = 3  bytes data (variable)
//	FIXED_BENCHMARK = 4  ">I" value (fixed, 4 bytes)
package quickstart

import (
	"context"

	"github.com/binproto/binproto"
)

// The quick-start message types.
const (
	SensorData     binproto.MessageType = 1
	Status         binproto.MessageType = 2
	Benchmark      binproto.MessageType = 3
	FixedBenchmark binproto.MessageType = 4
)

// Sensor is a SENSOR_DATA message.
type Sensor struct {
	Sensor1 float32 `binproto:"sensor1,>f"`
	Sensor2 float32 `binproto:"sensor2,>f"`
	Sensor3 float32 `binproto:"sensor3,>f"`
	Sensor4 float32 `binproto:"sensor4,>f"`
}

// StatusMsg is a STATUS message.
type StatusMsg struct {
	Code    uint32 `binproto:"status_code,>I"`
	Message string `binproto:"message"`
}

// Blob is a BENCHMARK message: an opaque variable-length payload.
type Blob struct {
	Data []byte `binproto:"data"`
}

// Fixed is a FIXED_BENCHMARK message.
type Fixed struct {
	Value uint32 `binproto:"value,>I"`
}

// The compiled codecs of the quick-start messages.
var (
	SensorCodec = binproto.MustCodec[Sensor]()
	StatusCodec = binproto.MustCodec[StatusMsg]()
	BlobCodec   = binproto.MustCodec[Blob]()
	FixedCodec  = binproto.MustCodec[Fixed]()
)

// Options tunes the quick-start protocol.
type Options struct {
	Checksum bool            // add the CRC-32 trailer
	UDP      bool            // run over UDP
	Base     binproto.Config // other settings; Types, Replies, Checksum and Transport are overwritten
}

// Protocol returns the quick-start protocol: header ">H", no checksum unless
// asked for, TCP unless asked for UDP.
func Protocol(o Options) (*binproto.Protocol, error) {
	cfg := o.Base
	cfg.Types = map[binproto.MessageType]*binproto.Structure{
		SensorData:     SensorCodec.Structure(),
		Status:         StatusCodec.Structure(),
		Benchmark:      BlobCodec.Structure(),
		FixedBenchmark: FixedCodec.Structure(),
	}
	// Each type is answered by its own type (the echo of the Python quick
	// start): declared, so that a reply is never confused with a push.
	cfg.Replies = map[binproto.MessageType][]binproto.MessageType{
		SensorData:     {SensorData},
		Status:         {Status},
		Benchmark:      {Benchmark},
		FixedBenchmark: {FixedBenchmark},
	}
	cfg.Checksum = nil
	if o.Checksum {
		cfg.Checksum = binproto.CRC32
	}
	cfg.Transport = binproto.TCP
	if o.UDP {
		cfg.Transport = binproto.UDP
	}
	return binproto.NewProtocol(cfg)
}

// EchoServer returns a server for p (a quick-start protocol) that answers
// each of the four types with the same message, and anything else with
// NOT_FOUND.
func EchoServer(p *binproto.Protocol) *binproto.Server {
	srv := &binproto.Server{Protocol: p}
	binproto.HandleTyped(srv, SensorData, SensorCodec, echo(SensorData, SensorCodec))
	binproto.HandleTyped(srv, Status, StatusCodec, echo(Status, StatusCodec))
	binproto.HandleTyped(srv, Benchmark, BlobCodec, echo(Benchmark, BlobCodec))
	binproto.HandleTyped(srv, FixedBenchmark, FixedCodec, echo(FixedBenchmark, FixedCodec))
	return srv
}

func echo[T any](t binproto.MessageType, c *binproto.Codec[T]) binproto.TypedHandlerFunc[T] {
	return func(_ context.Context, _ *binproto.Conn, msg *T) (binproto.Outgoing, error) {
		return binproto.Typed(t, c, msg), nil
	}
}
