package binprototarget

import (
	"context"
	"sync"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/quickstart"
)

// The benchmark protocol: the quick-start types, echoed, plus one-way
// variants that are never answered and a count request for Flush.
const (
	sensorOneWay binproto.MessageType = 5 // SENSOR_DATA, no reply
	blobOneWay   binproto.MessageType = 6 // BENCHMARK, no reply
	countRequest binproto.MessageType = 7 // reply: one-way messages received on this connection
	slowEcho     binproto.MessageType = 8 // BENCHMARK payload, echoed after bench.SlowDelay
)

// SlowEcho is the message type of the slow echo: a BENCHMARK payload,
// echoed after bench.SlowDelay (the head-of-line benchmark's slow calls,
// and the requests of `attack`'s stream flood).
const SlowEcho = slowEcho

// counter is the reply to a count request.
type counter struct {
	N uint64 `binproto:"n,>Q"`
}

var counterCodec = binproto.MustCodec[counter]()

// AuthTypes are the message types of token authentication in the
// benchmark protocol (`binproto serve --token`, `bench --token`, `attack
// --token`). Every benchmark protocol declares them, whether or not its
// server authenticates.
var AuthTypes = binproto.AuthTypes{Token: 100, OK: 101}

// ClientMaxPayload is the payload limit of the benchmark clients and of the
// embedded benchmark server: 4 MiB, so that `bench --sizes` up to 4 MiB run
// against the embedded server. A `binproto serve` accepts only what its
// --max-payload says (DefaultServeMaxPayload).
const ClientMaxPayload = 4 << 20

// LargestBenchPayload is the largest payload of the default benchmarks: the
// data of the 1 MiB variable-size run.
const LargestBenchPayload = 1 << 20

// DefaultServeMaxPayload is the default payload limit of `binproto serve`:
// the largest payload the default benchmarks send, LargestBenchPayload of
// data, plus what the benchmark structure adds around it (the length
// prefix of its bytes field), computed from the protocol's codec.
func DefaultServeMaxPayload() int {
	return LargestBenchPayload + blobOverhead()
}

// blobOverhead is the size of the payload of an empty BENCHMARK message:
// what the structure adds to the data it carries.
func blobOverhead() int {
	p, err := quickstart.BlobCodec.AppendPayload(nil, &quickstart.Blob{})
	if err != nil {
		panic("binprototarget: encode an empty blob: " + err.Error())
	}
	return len(p)
}

// ProtocolOptions tunes NewProtocol.
type ProtocolOptions struct {
	Checksum bool // per-message checksums
	UDP      bool // datagrams instead of TCP
	// MaxPayload is the payload limit; zero: ClientMaxPayload.
	MaxPayload int
	// IdleTimeout is the server's idle timeout; zero: the library default.
	IdleTimeout time.Duration
}

// Protocol returns the benchmark protocol of the clients and the embedded
// server, with per-message checksums when checksum is set and for UDP when
// udp is set. Its payload limit is ClientMaxPayload.
func Protocol(checksum, udp bool) (*binproto.Protocol, error) {
	return NewProtocol(ProtocolOptions{Checksum: checksum, UDP: udp})
}

// NewProtocol returns the benchmark protocol with o: the quick-start types,
// the one-way variants, the count request and AuthTypes.
func NewProtocol(o ProtocolOptions) (*binproto.Protocol, error) {
	if o.MaxPayload == 0 {
		o.MaxPayload = ClientMaxPayload
	}
	base := binproto.Config{MaxPayloadSize: o.MaxPayload, IdleTimeout: o.IdleTimeout}
	qs, err := quickstart.Protocol(quickstart.Options{Checksum: o.Checksum, UDP: o.UDP, Base: base})
	if err != nil {
		return nil, err
	}
	cfg := qs.Config()
	cfg.NotFoundType = 0 // re-derive from the header format
	cfg.Types[sensorOneWay] = quickstart.SensorCodec.Structure()
	cfg.Types[blobOneWay] = quickstart.BlobCodec.Structure()
	cfg.Types[countRequest] = counterCodec.Structure()
	cfg.Types[slowEcho] = quickstart.BlobCodec.Structure()
	cfg.Replies[slowEcho] = []binproto.MessageType{slowEcho}
	AuthTypes.Declare(&cfg)
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
	binproto.HandleTyped(srv, slowEcho, quickstart.BlobCodec, slowEchoHandler)
	srv.HandleFunc(countRequest, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return binproto.Typed(countRequest, counterCodec, &counter{N: *count(m.Conn)}), nil
	})
	return srv
}

// slowEchoHandler echoes a slow call after bench.SlowDelay: the slow calls
// of the head-of-line benchmark.
func slowEchoHandler(ctx context.Context, _ *binproto.Conn, b *quickstart.Blob) (binproto.Outgoing, error) {
	t := time.NewTimer(bench.SlowDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return binproto.NoReply, ctx.Err()
	case <-t.C:
		return binproto.Typed(slowEcho, quickstart.BlobCodec, b), nil
	}
}
