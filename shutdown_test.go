package binproto_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// TestShutdownDrainsInFlight: Shutdown with 50 pipelined requests in
// flight, each handled in 20 ms. With concurrent handlers all 50 have been
// read when it begins, and all 50 replies are delivered. With sequential
// handlers the server stops taking frames after a short grace: every
// request a handler ran gets its reply (none is lost to a reset), the others
// fail with ErrConnClosed. Shutdown returns nil; Serve ErrServerClosed.
func TestShutdownDrainsInFlight(t *testing.T) {
	for _, conc := range []int{50, 0} {
		name := "concurrent"
		if conc == 0 {
			name = "sequential"
		}
		t.Run(name, func(t *testing.T) {
			checkGoroutines(t)
			p := quickProto(t, nil)
			srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: conc}
			var ran atomic.Int64
			srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
				ran.Add(1)
				time.Sleep(20 * time.Millisecond)
				f, err := m.Fields()
				return binproto.Msg(Status, f), err
			})
			addr, served := serveTCP(t, srv)
			cl := dial(t, p, addr, nil)
			ctx := testCtx(t, 10*time.Second)
			const n = 50
			errs := make(chan error, n)
			for i := range n {
				go func() { errs <- checkStatusEcho(ctx, cl, i) }()
			}
			waitFor(t, 10*time.Second, "requests in flight", func() bool {
				if conc == 0 {
					return cl.Stats().MessagesOut == n && srv.Stats().MessagesIn > 0
				}
				return srv.Stats().MessagesIn == n
			})
			start := time.Now()
			if err := srv.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			t.Logf("Shutdown took %v", time.Since(start))
			var ok int64
			for range n {
				switch err := <-errs; {
				case err == nil:
					ok++
				case errors.Is(err, binproto.ErrConnClosed):
				default:
					t.Error(err)
				}
			}
			s := srv.Stats()
			if ok != ran.Load() || int64(s.MessagesOut) != ok || s.MessagesIn != s.MessagesOut {
				t.Errorf("%d replies delivered, %d handlers ran; server stats %+v", ok, ran.Load(), s)
			}
			if conc != 0 && ok != n {
				t.Errorf("%d of %d requests already read were answered", ok, n)
			}
			if err := served(); !errors.Is(err, binproto.ErrServerClosed) {
				t.Errorf("Serve returned %v, want ErrServerClosed", err)
			}
			if s.ConnectionsActive != 0 || s.Closes[binproto.CloseShutdown] != 1 {
				t.Errorf("stats after Shutdown: %+v", s)
			}
			if _, err := cl.Request(ctx, statusMsg(1, "late")); !errors.Is(err, binproto.ErrConnClosed) {
				t.Errorf("request after Shutdown: %v, want ErrConnClosed", err)
			}
			if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				t.Error("listener still accepting after Shutdown")
			}
		})
	}
}

// TestShutdownUnderLoad: 20 clients that never stop sending (a request
// every few hundred microseconds each) cannot hold Shutdown open: it
// returns nil long before its context ends (it used to renew a 20 ms read
// window at every frame and run until the context expired), and every
// request whose handler ran has its reply delivered.
func TestShutdownUnderLoad(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	var ran atomic.Int64
	srv.HandleFunc(Status, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		ran.Add(1)
		f, err := m.Fields()
		return binproto.Msg(Status, f), err
	})
	addr, served := serveTCP(t, srv)
	ctx := testCtx(t, 20*time.Second)
	const clients = 20
	var delivered atomic.Int64
	errs := make(chan error, clients)
	for c := range clients {
		cl := dial(t, p, addr, nil)
		go func() {
			for i := 0; ; i++ {
				err := checkStatusEcho(ctx, cl, c*1_000_000+i)
				if err != nil {
					if errors.Is(err, binproto.ErrConnClosed) {
						err = nil
					}
					errs <- err
					return
				}
				delivered.Add(1)
			}
		}()
	}
	waitFor(t, 5*time.Second, "load", func() bool { return ran.Load() > 20*clients })
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown under load: %v after %v", err, time.Since(start))
	}
	t.Logf("Shutdown under load took %v", time.Since(start))
	for range clients {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if delivered.Load() != ran.Load() {
		t.Errorf("%d replies delivered, %d handlers ran", delivered.Load(), ran.Load())
	}
	if err := served(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestShutdownStuckHandler: a handler that ignores its context makes
// Shutdown give up at its deadline with context.DeadlineExceeded.
func TestShutdownStuckHandler(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	release, started := make(chan struct{}), make(chan struct{}, 1)
	srv.HandleFunc(Status, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
		started <- struct{}{}
		<-release
		return binproto.NoReply, nil
	})
	addr, served := serveTCP(t, srv)
	t.Cleanup(func() { close(release) }) // runs before the goroutine check
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 10*time.Second)
	reqErr := make(chan error, 1)
	go func() { _, err := cl.Request(ctx, statusMsg(1, "stuck")); reqErr <- err }()
	<-started

	const grace = 200 * time.Millisecond
	sctx, cancel := context.WithTimeout(ctx, grace)
	defer cancel()
	start := time.Now()
	err := srv.Shutdown(sctx) // the stuck handler would hold it forever: ctx is the hang guard
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want context.DeadlineExceeded", err)
	}
	// Not before its deadline (a lower bound: load cannot make it flaky).
	if d := time.Since(start); d < grace {
		t.Errorf("Shutdown returned after %v, before its deadline %v", d, grace)
	}
	select {
	case err := <-reqErr:
		if !errors.Is(err, binproto.ErrConnClosed) {
			t.Errorf("pending request: %v, want ErrConnClosed", err)
		}
	case <-time.After(10 * time.Second): // a hang guard
		t.Error("the pending request did not fail after the forced close")
	}
	if err := served(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestShutdownIdle: idle connections are closed promptly and Shutdown
// returns nil.
func TestShutdownIdle(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, _ := serveTCP(t, srv)
	ctx := testCtx(t, 5*time.Second)
	var clients []*binproto.Client
	for i := range 5 {
		cl := dial(t, p, addr, &binproto.ClientOptions{AlwaysRead: true}) // Done reports the close while idle
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	// Without an IdleTimeout, idle connections would stay open forever:
	// Shutdown returning nil within ctx shows it closed them itself.
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, cl := range clients {
		select {
		case <-cl.Conn().Done():
		case <-time.After(time.Second):
			t.Fatal("client connection still open after Shutdown")
		}
	}
	if s := srv.Stats(); s.Closes[binproto.CloseShutdown] != 5 || s.ConnectionsActive != 0 {
		t.Errorf("stats: %+v", s)
	}
}

// TestCloseCancelsHandlers: Close cancels the contexts of running handlers
// and closes connections at once.
func TestCloseCancelsHandlers(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p, MaxConcurrentHandlers: 4}
	var started, cancelled sync.WaitGroup
	started.Add(4)
	cancelled.Add(4)
	srv.HandleFunc(Status, func(ctx context.Context, _ *binproto.Message) (binproto.Outgoing, error) {
		started.Done()
		<-ctx.Done()
		cancelled.Done()
		return binproto.NoReply, ctx.Err()
	})
	addr, served := serveTCP(t, srv)
	cl := dial(t, p, addr, nil)
	ctx := testCtx(t, 5*time.Second)
	errs := make(chan error, 4)
	for i := range 4 {
		go func() { _, err := cl.Request(ctx, statusMsg(i, "x")); errs <- err }()
	}
	started.Wait()
	srv.Close()
	cancelled.Wait()
	for range 4 {
		if err := <-errs; !errors.Is(err, binproto.ErrConnClosed) {
			t.Errorf("request: %v, want ErrConnClosed", err)
		}
	}
	if err := served(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
}

// TestCloseShutdownTwiceConcurrently calls Close and Shutdown several times,
// concurrently, with clients busy; nothing may panic or race.
func TestCloseShutdownTwiceConcurrently(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, nil)
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	addr, served := serveTCP(t, srv)
	ctx := testCtx(t, 5*time.Second)
	var busy sync.WaitGroup
	for c := range 4 {
		cl := dial(t, p, addr, nil)
		busy.Add(1)
		go func() {
			defer busy.Done()
			for i := 0; ; i++ {
				if err := checkStatusEcho(ctx, cl, c*100000+i); err != nil {
					return // the server went away
				}
			}
		}()
	}
	waitFor(t, 10*time.Second, "the clients busy", func() bool { return srv.Stats().MessagesOut >= 40 })
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				srv.Close()
				return
			}
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}()
	}
	wg.Wait()
	busy.Wait()
	srv.Close()
	if err := srv.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown after Close: %v", err)
	}
	if err := served(); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("Serve returned %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(l); !errors.Is(err, binproto.ErrServerClosed) {
		t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
	}
	a, b := net.Pipe()
	defer b.Close()
	srv.ServeConn(a) // returns at once: the server is closed
	b.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := b.Read(make([]byte, 1)); err == nil {
		t.Error("ServeConn after Close left the connection open")
	}
}

// TestShutdownNeverStarted: Shutdown and Close of a server that never
// served return at once.
func TestShutdownNeverStarted(t *testing.T) {
	srv := &binproto.Server{Protocol: quickProto(t, nil)}
	if err := srv.Shutdown(testCtx(t, time.Second)); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := (&binproto.Server{}).Shutdown(context.Background()); !errors.Is(err, binproto.ErrInvalidConfig) {
		t.Errorf("Shutdown without a Protocol: %v, want ErrInvalidConfig", err)
	}
}

// hookConn calls onFar, once, when a read deadline more than 5 s away is
// about to be set (the whole-frame ReadTimeout), and reports the near ones.
type hookConn struct {
	net.Conn
	once  sync.Once
	onFar func()
	near  chan struct{} // receives when a deadline under 1 s away is set
}

func (h *hookConn) SetReadDeadline(t time.Time) error {
	if !t.IsZero() {
		switch d := time.Until(t); {
		case d > 5*time.Second:
			h.once.Do(h.onFar)
		case d < time.Second:
			select {
			case h.near <- struct{}{}:
			default:
			}
		}
	}
	return h.Conn.SetReadDeadline(t)
}

// Shutdown starting while the read loop arms the whole-frame deadline for a
// partial frame: the drain deadline must win, or the connection waits out
// ReadTimeout.
func TestDrainWinsOverPartialFrame(t *testing.T) {
	checkGoroutines(t)
	p := quickProto(t, func(c *binproto.Config) { c.ReadTimeout = 30 * time.Second })
	srv := &binproto.Server{Protocol: p}
	registerEcho(srv)
	a, b := net.Pipe()
	defer a.Close()
	shut := make(chan error, 1)
	hc := &hookConn{Conn: b, near: make(chan struct{}, 1)}
	hc.onFar = func() {
		// Shutdown begins (and sets its drain deadline) just before the
		// read loop sets the whole-frame deadline.
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			shut <- srv.Shutdown(ctx)
		}()
		select {
		case <-hc.near:
		case <-time.After(500 * time.Millisecond):
		}
	}
	served := make(chan struct{})
	go func() { srv.ServeConn(hc); close(served) }()
	frame, _ := p.AppendFrame(nil, statusMsg(1, "half of me"))
	if _, err := a.Write(frame[:len(frame)/2]); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v, want nil (the drain deadline ends the partial frame)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	srv.Close()
	<-served
	if n := closeCount(srv, binproto.CloseShutdown); n != 1 {
		t.Errorf("%d shutdown closes, want 1; stats %+v", n, srv.Stats())
	}
}
