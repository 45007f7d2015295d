package binproto_test

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// TestBudgetLargeEchoes: 24 clients at once echo 512 KiB messages through a
// server whose frame-memory budget (2 MiB) holds a few of them at a time:
// each waits its turn, none deadlocks or times out (a connection never
// waits for the budget while holding some), and the budget is all given
// back at the end.
func TestBudgetLargeEchoes(t *testing.T) {
	for _, conc := range []int{0, 4} {
		p := quickProto(t, func(c *binproto.Config) { c.ReadTimeout = 20 * time.Second })
		srv := &binproto.Server{Protocol: p, MaxBufferedBytes: 2 << 20, MaxConcurrentHandlers: conc}
		registerEcho(srv)
		addr, _ := serveTCP(t, srv)
		ctx := testCtx(t, 60*time.Second)
		data := bytes.Repeat([]byte("0123456789abcdef"), 32<<10) // 512 KiB
		var wg sync.WaitGroup
		for range 24 {
			cl := dial(t, p, addr, nil)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out benchData
				for range 3 {
					if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Benchmark, benchCodec, &benchData{data}), benchCodec, &out); err != nil || !bytes.Equal(out.Data, data) {
						t.Errorf("handlers=%d: echo of %d bytes: %v (%d back)", conc, len(data), err, len(out.Data))
						return
					}
				}
			}()
		}
		wg.Wait()
		waitFor(t, 10*time.Second, "the budget given back", func() bool { return srv.Stats().BufferedBytes == 0 })
	}
}
