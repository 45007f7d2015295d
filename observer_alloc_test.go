//go:build !race

package binproto_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/binproto/binproto"
)

// countingObserver counts events and starts nothing: the cheapest Observer.
type countingObserver struct{ msgs, conns atomic.Int64 }

func (o *countingObserver) ObserveMessage(context.Context, binproto.MessageEvent) { o.msgs.Add(1) }
func (o *countingObserver) ObserveConn(binproto.ConnEvent)                        { o.conns.Add(1) }

// TestObserverAllocations: a sensor round trip allocates nothing without an
// Observer, and nothing more with one on both sides.
func TestObserverAllocations(t *testing.T) {
	for _, obs := range []binproto.Observer{nil, binproto.Observers(&countingObserver{})} {
		p := quickProto(t, nil)
		srv := &binproto.Server{Protocol: p, Observer: obs}
		registerEcho(srv)
		addr, _ := serveTCP(t, srv)
		cl := dial(t, p, addr, &binproto.ClientOptions{Observer: obs})
		ctx := context.Background()
		in, out := sensor{1, 2, 3, 4}, sensor{}
		allocs := testing.AllocsPerRun(500, func() {
			if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &in), sensorCodec, &out); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("observer %v: %.2f allocations per sensor round trip, want 0", obs, allocs)
		}
	}
}
