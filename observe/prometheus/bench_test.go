package binprom_test

import (
	"context"
	"testing"
	"time"

	"github.com/binproto/binproto"
	binprom "github.com/binproto/binproto/observe/prometheus"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkRequest measures sequential request/response round trips of an
// 10-byte message on loopback, with the Prometheus adapter on both sides
// and without: the overhead of the adapter.
//
//	go test -run '^$' -bench BenchmarkRequest -count 5 .
func BenchmarkRequest(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "adapter=off"
		if on {
			name = "adapter=on"
		}
		b.Run(name, func(b *testing.B) {
			cl, in := benchClient(b, on)
			var out reading
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Reading, readingCodec, in), readingCodec, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchClient returns a client of a fresh server, both observed by an
// adapter when on.
func benchClient(tb testing.TB, on bool) (*binproto.Client, *reading) {
	p := protocol(tb)
	var obs binproto.Observer
	if on {
		o := binprom.New(p, binprom.Options{})
		prometheus.NewRegistry().MustRegister(o)
		obs = o
	}
	addr := serve(tb, p, obs, 0)
	cl, err := binproto.Dial(context.Background(), p, addr, &binproto.ClientOptions{Observer: obs})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cl.Close() })
	return cl, &reading{1, 2}
}

// BenchmarkObserveMessage measures the adapter alone: one message event
// (a counter, the latency histogram, two byte counters), as a server calls
// it per request. A round trip observed on both sides costs two.
func BenchmarkObserveMessage(b *testing.B) {
	for _, native := range []bool{true, false} {
		opts := binprom.Options{}
		name := "histogram=native+classic"
		if !native {
			opts.NativeHistogramBucketFactor, name = -1, "histogram=classic"
		}
		b.Run(name, func(b *testing.B) { benchObserve(b, binprom.New(protocol(b), opts)) })
	}
}

func benchObserve(b *testing.B, o *binprom.Observer) {
	ev := binproto.MessageEvent{
		MessageInfo: binproto.MessageInfo{Side: binproto.SideServer, Direction: binproto.DirectionIn, Type: Reading},
		Bytes:       10, Replied: true, ReplyType: Reading, ReplyBytes: 10, Latency: 30 * time.Microsecond,
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		o.ObserveMessage(ctx, ev)
	}
}
