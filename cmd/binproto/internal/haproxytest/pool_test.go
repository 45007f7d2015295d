package haproxytest

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// The load of the pool tests: 16 callers, each at a steady rate, together
// loadRate calls per second, counted in windows of loadWindow.
const (
	loadCallers = 16
	loadRate    = 2000
	loadWindow  = 100 * time.Millisecond
)

// counted is a server whose Status handler counts its calls.
type counted struct {
	srv     *binproto.Server
	addr    string
	handled *atomic.Int64
	done    chan error // Serve's result
}

// serveCounted serves a Status echo on addr ("127.0.0.1:0": any port),
// with the PROXY protocol settings pp, counting calls in handled.
func serveCounted(t *testing.T, p *binproto.Protocol, addr string, pp binproto.ProxyProtocol, handled *atomic.Int64) *counted {
	t.Helper()
	var l net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; { // the port of a server just shut down
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	c := &counted{addr: l.Addr().String(), handled: handled, done: make(chan error, 1)}
	c.srv = &binproto.Server{Protocol: p, ProxyProtocol: pp}
	binproto.HandleTyped(c.srv, quickstart.Status, quickstart.StatusCodec,
		func(_ context.Context, _ *binproto.Conn, m *quickstart.StatusMsg) (binproto.Outgoing, error) {
			handled.Add(1)
			return binproto.Typed(quickstart.Status, quickstart.StatusCodec, m), nil
		})
	go func() { c.done <- c.srv.Serve(l) }()
	t.Cleanup(func() {
		c.srv.Close()
		if err := <-c.done; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return c
}

// load runs loadCallers callers at loadRate calls per second together
// until stop is called, counting the successes per window and keeping the
// failures.
type load struct {
	start  time.Time
	ok     []atomic.Int64 // successes by window since start
	failed atomic.Int64
	mu     sync.Mutex
	errs   []error // the first failures
	wg     sync.WaitGroup
	cancel context.CancelFunc
}

// startLoad starts the callers; ctx marks the calls (binproto.Idempotent).
func startLoad(ctx context.Context, pl *binproto.Pool, d time.Duration) *load {
	ld := &load{start: time.Now(), ok: make([]atomic.Int64, d/loadWindow+1)}
	ctx, ld.cancel = context.WithCancel(ctx)
	every := time.Second * loadCallers / loadRate
	for c := range loadCallers {
		ld.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				in := quickstart.StatusMsg{Code: uint32(c), Message: "load"}
				var out quickstart.StatusMsg
				_, err := binproto.PoolRequestTyped(cctx, pl, binproto.Typed(quickstart.Status, quickstart.StatusCodec, &in), quickstart.StatusCodec, &out)
				cancel()
				switch {
				case err == nil:
					if w := int(time.Since(ld.start) / loadWindow); w < len(ld.ok) {
						ld.ok[w].Add(1)
					}
				case ctx.Err() != nil: // stopped
				default:
					ld.failed.Add(1)
					ld.mu.Lock()
					if len(ld.errs) < 5 {
						ld.errs = append(ld.errs, err)
					}
					ld.mu.Unlock()
				}
			}
		})
	}
	return ld
}

func (ld *load) stop() { ld.cancel(); ld.wg.Wait() }

// rate returns the successes per second between from and to (times since
// start, whole windows).
func (ld *load) rate(from, to time.Duration) float64 {
	var n int64
	for w := from / loadWindow; w < to/loadWindow && int(w) < len(ld.ok); w++ {
		n += ld.ok[w].Load()
	}
	return float64(n) / (to - from).Seconds()
}

// recovery returns how long after at the rate of a window first came back
// to 90 % of before (a rate per second).
func (ld *load) recovery(at time.Duration, before float64) time.Duration {
	for w := at / loadWindow; int(w) < len(ld.ok); w++ {
		if float64(ld.ok[w].Load())/loadWindow.Seconds() >= 0.9*before {
			return (w+1)*loadWindow - at
		}
	}
	return -1
}

func (ld *load) failures(t *testing.T) {
	t.Helper()
	if n := ld.failed.Load(); n != 0 {
		ld.mu.Lock()
		defer ld.mu.Unlock()
		t.Errorf("%d calls failed; the first: %v", n, ld.errs)
	}
}

func poolProtocol(t *testing.T) *binproto.Protocol {
	t.Helper()
	p, err := quickstart.Protocol(quickstart.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPoolFailoverAndScaleOut: a pool over three servers under a steady
// load of idempotent calls loses one server (closed at once, its
// connections with it): no call fails, and the rate over the next second
// stays within 90 % of the rate before. A fourth server then added to the
// pool's addresses takes at least 25 % of the calls within 5 s.
func TestPoolFailoverAndScaleOut(t *testing.T) {
	p := poolProtocol(t)
	var handled [4]atomic.Int64
	var addrs []string
	var servers []*counted
	for i := range 3 {
		c := serveCounted(t, p, "127.0.0.1:0", binproto.ProxyProtocol{}, &handled[i])
		servers = append(servers, c)
		addrs = append(addrs, c.addr)
	}
	pl, err := binproto.NewPool(p, binproto.PoolOptions{Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	ctx, cancel := context.WithTimeout(binproto.Idempotent(context.Background()), time.Minute)
	defer cancel()
	ld := startLoad(ctx, pl, 8*time.Second)
	defer ld.stop()

	time.Sleep(2 * time.Second) // 0.5 s warm-up, then 1.5 s measured
	kill := time.Since(ld.start).Truncate(loadWindow) + loadWindow
	time.Sleep(time.Until(ld.start.Add(kill)))
	servers[0].srv.Close()
	time.Sleep(time.Second + loadWindow)
	before, after := ld.rate(500*time.Millisecond, kill), ld.rate(kill, kill+time.Second)
	rec := ld.recovery(kill, before)
	t.Logf("failover: %.0f calls/s before the kill, %.0f calls/s over the next second (%.0f %%); back to 90 %% within %v", before, after, 100*after/before, rec)
	if before < loadRate/4 {
		t.Fatalf("only %.0f calls/s before the kill; the test needs a steady load", before)
	}
	if after < 0.9*before {
		t.Errorf("%.0f calls/s in the second after the kill, want ≥ 90 %% of %.0f", after, before)
	}

	c := serveCounted(t, p, "127.0.0.1:0", binproto.ProxyProtocol{}, &handled[3])
	pl.SetAddrs(append(addrs, c.addr))
	added := time.Now()
	var share float64
	for time.Since(added) < 5*time.Second {
		var h0 [4]int64
		for i := range h0 {
			h0[i] = handled[i].Load()
		}
		time.Sleep(500 * time.Millisecond)
		var all int64
		for i := range h0 {
			all += handled[i].Load() - h0[i]
		}
		if share = float64(handled[3].Load()-h0[3]) / float64(max(all, 1)); share >= 0.25 {
			break
		}
	}
	t.Logf("scale-out: the fourth server took %.0f %% of the calls in the half second ending %v after it was added", 100*share, time.Since(added).Round(time.Millisecond))
	if share < 0.25 {
		t.Errorf("the fourth server took %.0f %% of the calls within 5 s, want ≥ 25 %%", 100*share)
	}
	ld.stop()
	ld.failures(t)
}

// TestPoolRollingRestartBehindHAProxy: a pool through HAProxy (mode tcp,
// send-proxy-v2, health checks) to three servers, under a steady load of
// calls not marked idempotent, while each server in turn shuts down
// gracefully and a new one starts on its port: every call succeeds (the
// servers drain what they accepted, their goaways send the rest again),
// and every Shutdown returns nil.
func TestPoolRollingRestartBehindHAProxy(t *testing.T) {
	bin := binary(t)
	p := poolProtocol(t)
	var handled atomic.Int64
	var addrs []string
	var servers []*counted
	for range 3 {
		c := serveCounted(t, p, "127.0.0.1:0", trustLoopback, &handled)
		servers = append(servers, c)
		addrs = append(addrs, c.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hp, err := Start(ctx, bin, t.TempDir(), Config{Backends: addrs, Check: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if out := hp.Stop(); t.Failed() {
			t.Logf("haproxy output:\n%s", out)
		}
	}()
	// Six connections through the one address: HAProxy sends two to each
	// server.
	pl, err := binproto.NewPool(p, binproto.PoolOptions{Addrs: []string{hp.Addr}, ConnsPerAddr: 6, Backoff: binproto.Backoff{Initial: 20 * time.Millisecond, Max: 500 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	ld := startLoad(ctx, pl, time.Minute)
	defer ld.stop()
	time.Sleep(time.Second)
	for i, old := range servers {
		sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
		err := old.srv.Shutdown(sctx)
		scancel()
		if err != nil {
			t.Errorf("server %d: Shutdown: %v", i+1, err)
		}
		if err := <-old.done; !errors.Is(err, binproto.ErrServerClosed) {
			t.Errorf("server %d: Serve: %v", i+1, err)
		}
		old.done <- binproto.ErrServerClosed // for its cleanup
		servers[i] = serveCounted(t, p, old.addr, trustLoopback, &handled)
		time.Sleep(500 * time.Millisecond) // HAProxy's check finds it up
	}
	time.Sleep(500 * time.Millisecond)
	ld.stop()
	var calls, retried uint64
	for _, e := range pl.Endpoints() {
		calls += e.Calls
		retried += e.Retried
	}
	var ok int64
	for i := range ld.ok {
		ok += ld.ok[i].Load()
	}
	t.Logf("rolling restart: %d calls succeeded in %v (%d attempts, %d sent again), %d failed; the servers handled %d",
		ok, time.Since(ld.start).Round(100*time.Millisecond), calls, retried, ld.failed.Load(), handled.Load())
	ld.failures(t)
	if ok == 0 || handled.Load() < ok {
		t.Fatalf("%d calls succeeded, the servers handled %d", ok, handled.Load())
	}
}
