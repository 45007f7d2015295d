package binproto_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

func TestBackoffDelay(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    binproto.Backoff
		n    int
		want time.Duration
	}{
		{"defaults, first", binproto.Backoff{Jitter: -1}, 0, 100 * time.Millisecond},
		{"defaults, second", binproto.Backoff{Jitter: -1}, 1, 160 * time.Millisecond},
		{"defaults, capped", binproto.Backoff{Jitter: -1}, 50, 5 * time.Second},
		{"custom", binproto.Backoff{Initial: time.Second, Max: 3 * time.Second, Multiplier: 2, Jitter: -1}, 1, 2 * time.Second},
		{"custom, capped", binproto.Backoff{Initial: time.Second, Max: 3 * time.Second, Multiplier: 2, Jitter: -1}, 2, 3 * time.Second},
		{"max under initial", binproto.Backoff{Initial: time.Second, Max: time.Millisecond, Jitter: -1}, 3, time.Second},
		{"negative attempt", binproto.Backoff{Jitter: -1}, -3, 100 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.b.Delay(tc.n); got != tc.want {
				t.Fatalf("Delay(%d) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	// The default jitter spreads the waits over ±20 %, not all on one value.
	seen := map[time.Duration]bool{}
	for range 200 {
		d := binproto.Backoff{}.Delay(0)
		if d < 80*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("jittered Delay(0) = %v, want within 80–120 ms", d)
		}
		seen[d] = true
	}
	if len(seen) < 10 {
		t.Fatalf("200 jittered delays took %d values", len(seen))
	}
}

// poolBackend is one server of a pool test, counting the Status calls it
// handled; a call whose message is "block" waits until release closes (or
// its context ends) and signals started first.
type poolBackend struct {
	srv     *binproto.Server
	addr    string
	handled atomic.Int64
	delay   atomic.Int64 // nanoseconds each call waits
	started chan struct{}
	release chan struct{}
}

// startBackend serves a Status echo on addr ("127.0.0.1:0" for any port),
// closed when the test ends.
func startBackend(t *testing.T, p *binproto.Protocol, addr string, native binproto.NativeOptions) *poolBackend {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	b := &poolBackend{addr: l.Addr().String(), started: make(chan struct{}, 16), release: make(chan struct{})}
	b.srv = &binproto.Server{Protocol: p, Native: native}
	b.srv.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		if f["message"] == "block" {
			b.started <- struct{}{}
			select {
			case <-b.release:
			case <-ctx.Done():
				return binproto.NoReply, ctx.Err()
			}
		}
		if d := b.delay.Load(); d > 0 {
			time.Sleep(time.Duration(d))
		}
		b.handled.Add(1)
		return binproto.Msg(Status, f), nil
	})
	done := make(chan error, 1)
	go func() { done <- b.srv.Serve(l) }()
	t.Cleanup(func() {
		b.srv.Close()
		select {
		case err := <-done:
			if !errors.Is(err, binproto.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return within 5s")
		}
	})
	return b
}

// stateLog records the states a pool reports, by address.
type stateLog struct {
	mu     sync.Mutex
	states map[string][]binproto.ConnState
}

func (l *stateLog) record(addr string, s binproto.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.states == nil {
		l.states = map[string][]binproto.ConnState{}
	}
	l.states[addr] = append(l.states[addr], s)
}

func (l *stateLog) of(addr string) []binproto.ConnState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.states[addr])
}

// newPool starts a pool, closed when the test ends (before the servers:
// cleanups run last first).
func newPool(t *testing.T, p *binproto.Protocol, opts binproto.PoolOptions) *binproto.Pool {
	t.Helper()
	pl, err := binproto.NewPool(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pl.Close() })
	return pl
}

// ready waits until the pool has n ready connections.
func ready(t *testing.T, pl *binproto.Pool, n int) {
	t.Helper()
	waitFor(t, 5*time.Second, "ready connections", func() bool {
		k := 0
		for _, e := range pl.Endpoints() {
			if e.State == binproto.StateReady {
				k++
			}
		}
		return k >= n
	})
}

func callsOf(pl *binproto.Pool, addr string) uint64 {
	var n uint64
	for _, e := range pl.Endpoints() {
		if e.Addr == addr {
			n += e.Calls
		}
	}
	return n
}

func TestPoolReconnectsAfterRestart(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	a := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
	var log stateLog
	var auths atomic.Int64
	pl := newPool(t, p, binproto.PoolOptions{
		Addrs:         []string{a.addr},
		Backoff:       binproto.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		OnStateChange: log.record,
		Client: binproto.ClientOptions{Auth: binproto.ClientAuthFunc(func(context.Context, *binproto.Client) error {
			auths.Add(1)
			return nil
		})},
	})
	ctx := testCtx(t, 10*time.Second)
	if _, err := pl.Request(ctx, statusMsg(1, "one")); err != nil {
		t.Fatal(err)
	}
	a.srv.Close()
	waitFor(t, 5*time.Second, "the lost connection reported", func() bool {
		return slices.Contains(log.of(a.addr), binproto.StateTransientFailure)
	})
	b := startBackend(t, p, a.addr, binproto.NativeOptions{}) // the same port
	m, err := pl.Request(ctx, statusMsg(2, "two"))            // waits for the new connection
	if err != nil {
		t.Fatal(err)
	}
	if f, _ := m.Fields(); f["message"] != "two" || b.handled.Load() != 1 {
		t.Fatalf("reply %v, the new server handled %d", f, b.handled.Load())
	}
	if n := auths.Load(); n < 2 {
		t.Fatalf("Auth ran %d times, want once per connection (≥ 2)", n)
	}
	pl.Close()
	got := log.of(a.addr)
	want := []binproto.ConnState{binproto.StateConnecting, binproto.StateReady, binproto.StateTransientFailure}
	if len(got) < 5 || !slices.Equal(got[:3], want) || got[len(got)-2] != binproto.StateReady || got[len(got)-1] != binproto.StateClosed {
		t.Fatalf("states %v: want connecting, ready, transient failure, ..., ready, closed", got)
	}
	if _, err := pl.Request(ctx, statusMsg(3, "closed")); !errors.Is(err, binproto.ErrClientClosed) {
		t.Fatalf("a call after Close: %v, want ErrClientClosed", err)
	}
}

func TestPoolBackoffCountsDials(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := l.Addr().String()
	l.Close() // nothing listens: every dial is refused
	var dials atomic.Int64
	pl := newPool(t, p, binproto.PoolOptions{
		Addrs:   []string{dead},
		Backoff: binproto.Backoff{Initial: time.Millisecond, Max: 5 * time.Millisecond},
		Dial: func(ctx context.Context, addr string, o *binproto.ClientOptions) (*binproto.Client, error) {
			dials.Add(1)
			return binproto.Dial(ctx, p, addr, o)
		},
		FailFast: true,
	})
	waitFor(t, 5*time.Second, "five dials", func() bool { return dials.Load() >= 5 })
	ctx := testCtx(t, 5*time.Second)
	if _, err := pl.Request(ctx, statusMsg(1, "x")); !errors.Is(err, binproto.ErrUnavailable) {
		t.Fatalf("FailFast call with no ready connection: %v, want ErrUnavailable", err)
	}
	pl.Close()
	n := dials.Load()
	time.Sleep(30 * time.Millisecond) // six back-offs' worth
	if dials.Load() != n {
		t.Fatalf("dials went on after Close: %d then %d", n, dials.Load())
	}

	// A slow back-off dials seldom: a 10 s first wait allows one dial.
	dials.Store(0)
	slow := newPool(t, p, binproto.PoolOptions{
		Addrs:   []string{dead},
		Backoff: binproto.Backoff{Initial: 10 * time.Second},
		Dial: func(ctx context.Context, addr string, o *binproto.ClientOptions) (*binproto.Client, error) {
			dials.Add(1)
			return binproto.Dial(ctx, p, addr, o)
		},
	})
	waitFor(t, 5*time.Second, "the first dial", func() bool { return dials.Load() >= 1 })
	// Without FailFast a call waits for its context.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err = slow.Request(short, statusMsg(1, "x"))
	if !errors.Is(err, binproto.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting call: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d dials within the first back-off, want 1", n)
	}
}

// blockedOnA starts servers a and b and a pool over a, makes a call (with
// ctx) that blocks in a's handler, then adds b to the pool and waits until
// both are ready; the call's error comes on the channel returned.
func blockedOnA(t *testing.T, ctx context.Context) (a, b *poolBackend, pl *binproto.Pool, errc chan error) {
	p := quickProto(t, nil)
	a = startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
	b = startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
	close(b.release)
	pl = newPool(t, p, binproto.PoolOptions{Addrs: []string{a.addr}})
	errc = make(chan error, 1)
	go func() { _, err := pl.Request(ctx, statusMsg(1, "block")); errc <- err }()
	<-a.started
	pl.SetAddrs([]string{a.addr, b.addr})
	ready(t, pl, 2)
	return a, b, pl, errc
}

// inFlightLoss kills a with a call in flight on it; it returns the call's
// error.
func inFlightLoss(t *testing.T, idempotent bool) (error, *poolBackend) {
	ctx := testCtx(t, 10*time.Second)
	if idempotent {
		ctx = binproto.Idempotent(ctx)
	}
	a, b, _, errc := blockedOnA(t, ctx)
	a.srv.Close() // the call dies in flight
	return <-errc, b
}

func TestPoolRetriesIdempotentInFlight(t *testing.T) {
	checkGoroutines(t)
	err, b := inFlightLoss(t, true)
	if err != nil {
		t.Fatalf("idempotent call lost in flight: %v, want it retried on the other server", err)
	}
	if b.handled.Load() != 1 {
		t.Fatalf("the other server handled %d calls, want 1", b.handled.Load())
	}
}

func TestPoolDoesNotRetryInFlight(t *testing.T) {
	checkGoroutines(t)
	err, b := inFlightLoss(t, false)
	// The connection closes, or the server's Close cancels the handler
	// first: either way the caller is told, and nothing is sent again.
	if !errors.Is(err, binproto.ErrConnClosed) && !errors.Is(err, context.Canceled) {
		t.Fatalf("non-idempotent call lost in flight: %v, want ErrConnClosed or Canceled", err)
	}
	if b.handled.Load() != 0 {
		t.Fatalf("the other server handled %d calls, want 0 (not retried)", b.handled.Load())
	}
}

func TestPoolGoAwayRetriesNotProcessed(t *testing.T) {
	checkGoroutines(t)
	ctx := testCtx(t, 10*time.Second)
	a, b, pl, errc := blockedOnA(t, ctx) // a call not idempotent in flight on a
	shut := make(chan error, 1)
	go func() { shut <- a.srv.Shutdown(ctx) }()
	// Calls made during the drain go to b, or are refused by a as not
	// processed and sent again to b; none fails, none is lost.
	for i := range 50 {
		if _, err := pl.Request(ctx, statusMsg(i, "during")); err != nil {
			t.Fatalf("call %d during a's drain: %v", i, err)
		}
	}
	close(a.release)
	if err := <-errc; err != nil {
		t.Fatalf("the call a accepted before its goaway: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if got := a.handled.Load() + b.handled.Load(); got != 51 {
		t.Fatalf("handled %d calls, want 51 (each once)", got)
	}
}

func TestPoolRetriesRefusedAfterBackoff(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	a := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{MaxConcurrentStreams: 1})
	pl := newPool(t, p, binproto.PoolOptions{Addrs: []string{a.addr}, Backoff: binproto.Backoff{Initial: 20 * time.Millisecond}, MaxAttempts: 100})
	ctx := testCtx(t, 10*time.Second)
	errc := make(chan error, 1)
	go func() { _, err := pl.Request(ctx, statusMsg(1, "block")); errc <- err }()
	<-a.started
	second := make(chan error, 1)
	go func() { _, err := pl.Request(ctx, statusMsg(2, "second")); second <- err }()
	// The second call is refused (one stream at a time), not processed,
	// and asked again after a back-off until the first is done.
	time.Sleep(50 * time.Millisecond)
	close(a.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatalf("the refused call: %v, want it sent again", err)
	}
	if a.handled.Load() != 2 {
		t.Fatalf("handled %d, want 2", a.handled.Load())
	}
	// With one attempt the refusal is the caller's: a retryable *Error.
	c := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{MaxConcurrentStreams: 1})
	one := newPool(t, p, binproto.PoolOptions{Addrs: []string{c.addr}, MaxAttempts: 1})
	go func() { _, err := one.Request(ctx, statusMsg(1, "block")); errc <- err }()
	<-c.started
	_, err := one.Request(ctx, statusMsg(2, "refused"))
	var e *binproto.Error
	if !errors.As(err, &e) || !e.Retryable() || e.Code != binproto.CodeUnavailable {
		t.Fatalf("refused call with MaxAttempts 1: %v, want a retryable CodeUnavailable *Error", err)
	}
	close(c.release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func TestPoolPowerOfTwoChoices(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	var bs []*poolBackend
	var addrs []string
	for range 3 {
		b := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
		close(b.release)
		bs = append(bs, b)
		addrs = append(addrs, b.addr)
	}
	pl := newPool(t, p, binproto.PoolOptions{Addrs: addrs})
	ready(t, pl, 3)
	ctx := testCtx(t, 20*time.Second)
	const calls = 600
	for i := range calls { // one at a time: every connection is idle, the draw is even
		if _, err := pl.Request(ctx, statusMsg(i, "x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bs {
		if n := b.handled.Load(); n < calls*15/100 {
			t.Fatalf("server %s handled %d of %d calls, want ≥ 15 %%", b.addr, n, calls)
		}
	}

	// A slow server gets fewer calls: its calls stay outstanding longer,
	// and two choices avoid it.
	bs[0].delay.Store(int64(5 * time.Millisecond))
	before := make([]int64, len(bs))
	for i, b := range bs {
		before[i] = b.handled.Load()
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range calls / 8 {
				if _, err := pl.Request(ctx, statusMsg(i, "x")); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := bs[0].handled.Load() - before[0]; n >= calls/4 {
		t.Fatalf("the slow server handled %d of %d concurrent calls, want < 25 %% (an even draw gives 33 %%)", n, calls)
	}
}

func TestPoolResolverAddsAndDrains(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	a := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
	b := startBackend(t, p, "127.0.0.1:0", binproto.NativeOptions{})
	close(b.release)
	var mu sync.Mutex
	addrs := []string{a.addr}
	var log stateLog
	pl := newPool(t, p, binproto.PoolOptions{
		Resolve: func(context.Context) ([]string, error) {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(addrs), nil
		},
		ResolveEvery:  5 * time.Millisecond,
		OnStateChange: log.record,
	})
	ctx := testCtx(t, 10*time.Second)
	errc := make(chan error, 1)
	go func() { _, err := pl.Request(ctx, statusMsg(1, "block")); errc <- err }() // in flight on a
	<-a.started
	mu.Lock()
	addrs = []string{b.addr} // b added, a removed
	mu.Unlock()
	waitFor(t, 5*time.Second, "a draining", func() bool { return slices.Contains(log.of(a.addr), binproto.StateDraining) })
	for i := range 20 {
		if _, err := pl.Request(ctx, statusMsg(i, "x")); err != nil {
			t.Fatal(err)
		}
	}
	if n := b.handled.Load(); n != 20 {
		t.Fatalf("b handled %d of the 20 calls made after a's removal", n)
	}
	if s := log.of(a.addr); s[len(s)-1] != binproto.StateDraining {
		t.Fatalf("a's states %v: it closed with a call in flight", s)
	}
	close(a.release)
	if err := <-errc; err != nil {
		t.Fatalf("the call in flight on the removed address: %v", err)
	}
	waitFor(t, 5*time.Second, "a closed", func() bool {
		s := log.of(a.addr)
		return s[len(s)-1] == binproto.StateClosed
	})
	if eps := pl.Endpoints(); len(eps) != 1 || eps[0].Addr != b.addr {
		t.Fatalf("endpoints %+v, want b only", eps)
	}
}

func TestPoolSend(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	got := make(chan int64, 8)
	srv := &binproto.Server{Protocol: p}
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, _ := m.Fields()
		n, _ := f["status_code"].(uint64)
		got <- int64(n)
		return binproto.NoReply, nil
	})
	addr, _ := serveTCP(t, srv)
	pl := newPool(t, p, binproto.PoolOptions{Addrs: []string{addr}})
	ctx := testCtx(t, 5*time.Second)
	if err := pl.Send(ctx, statusMsg(42, "one way")); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-got:
		if n != 42 {
			t.Fatalf("got %d", n)
		}
	case <-ctx.Done():
		t.Fatal("the one-way message never arrived")
	}
}

func TestNewPoolErrors(t *testing.T) {
	p := quickProto(t, nil)
	var ce *binproto.ConfigError
	if _, err := binproto.NewPool(p, binproto.PoolOptions{}); !errors.As(err, &ce) {
		t.Fatalf("no address: %v, want a *ConfigError", err)
	}
	udp := quickProto(t, func(c *binproto.Config) { c.Transport = binproto.UDP })
	if _, err := binproto.NewPool(udp, binproto.PoolOptions{Addrs: []string{"127.0.0.1:1"}}); !errors.As(err, &ce) {
		t.Fatalf("UDP: %v, want a *ConfigError", err)
	}
}

func TestConnStateString(t *testing.T) {
	for s, want := range map[binproto.ConnState]string{
		binproto.StateConnecting: "connecting", binproto.StateReady: "ready",
		binproto.StateTransientFailure: "transient failure", binproto.StateDraining: "draining",
		binproto.StateClosed: "closed", 99: "ConnState(99)",
	} {
		if got := s.String(); got != want {
			t.Errorf("%d: %q, want %q", s, got, want)
		}
	}
}
