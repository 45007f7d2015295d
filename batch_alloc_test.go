//go:build !race

package binproto_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// TestSendBatchReusesBuffers: a stream of large batches (256 × 4 KiB)
// reuses its encoding buffer instead of regrowing one per batch, which
// turned 4 KiB streams into garbage-collector work.
func TestSendBatchReusesBuffers(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.MaxPayloadSize = 4 << 20 })
	srv := &binproto.Server{Protocol: p}
	var got atomic.Int64
	srv.HandleFunc(Benchmark, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
		got.Add(1)
		return binproto.NoReply, nil
	})
	addr, _ := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 10*time.Second)
	blobs := make([]benchData, 256)
	for i := range blobs {
		blobs[i].Data = make([]byte, 4096)
	}
	const runs = 20
	allocsPerBatch := testing.AllocsPerRun(runs, func() {
		if err := binproto.SendBatchTyped(ctx, cl, Benchmark, benchCodec, blobs); err != nil {
			t.Fatal(err)
		}
	})
	if allocsPerBatch > 2 {
		t.Errorf("SendBatchTyped of 256 × 4 KiB: %.1f allocations per batch, want at most 2", allocsPerBatch)
	}
	waitFor(t, 5*time.Second, "all messages received", func() bool { return got.Load() == (runs+1)*256 })
}
