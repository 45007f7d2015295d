package testutil

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
)

// CheckShared checks the shared client of a started target: callers
// goroutines on one client echo distinct payloads of several sizes
// concurrently, each gets its own back, a slow call comes back no sooner
// than bench.SlowDelay with its payload, and the wire bytes grow by at
// least the payloads.
func CheckShared(ctx context.Context, t *testing.T, sd bench.SharedDialer, callers int) {
	t.Helper()
	c, err := sd.DialShared(ctx)
	if err != nil {
		t.Fatalf("DialShared: %v", err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	sizes := []int{0, 1, 1024, 70 << 10}
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		caller := c.NewCaller()
		wg.Go(func() {
			for k := range 20 {
				p := bytes.Repeat([]byte{byte(i), byte(k)}, sizes[(i+k)%len(sizes)]/2)
				got, err := caller.Echo(ctx, p)
				if err != nil || !bytes.Equal(got, p) {
					errs <- fmt.Errorf("caller %d call %d (%d bytes): %d bytes back, %v", i, k, len(p), len(got), err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	before := c.WireBytes()
	p := []byte("slow call")
	t0 := time.Now()
	got, err := c.NewCaller().SlowEcho(ctx, p)
	if took := time.Since(t0); err != nil || !bytes.Equal(got, p) || took < bench.SlowDelay {
		t.Fatalf("SlowEcho: %q after %v, %v; want %q after %v or more", got, took, err, p, bench.SlowDelay)
	}
	if after := c.WireBytes(); after < before+2*uint64(len(p)) {
		t.Errorf("wire bytes %d after a call of %d bytes, %d before", after, len(p), before)
	}
}

// Start starts tg and closes it when the test ends, reporting an error of
// Close.
func Start(ctx context.Context, t *testing.T, tg bench.Target) bench.Endpoint {
	t.Helper()
	ep, err := tg.Start(ctx)
	if err != nil {
		t.Fatalf("Start %s: %v", tg.Name(), err)
	}
	t.Cleanup(func() {
		if err := tg.Close(); err != nil {
			t.Errorf("Close %s: %v", tg.Name(), err)
		}
	})
	return ep
}
