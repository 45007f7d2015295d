package binprototarget

import (
	"context"
	"sync"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

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

// Protocol returns the benchmark protocol, with per-message checksums when
// checksum is set and for UDP when udp is set. Its payload limit is raised
// to 4 MiB so that the 1 MiB variable-size run fits with its length prefix.
func Protocol(checksum, udp bool) (*binproto.Protocol, error) {
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

// NewServer returns the benchmark server of protocol p: echo for the
// quick-start types, counted one-way messages, and the count request.
func NewServer(p *binproto.Protocol) *binproto.Server {
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
