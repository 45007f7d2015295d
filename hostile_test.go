package binproto_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/wire"
)

// The hostile-peer suite: each test provokes one fault on loopback and
// checks the outcome, while a bystander client keeps making requests on the
// same server and must see no error. Every test checks that goroutines and
// file descriptors come back to their count at the start.

// benchHeader returns the header of a Benchmark frame declaring n payload
// bytes.
func benchHeader(n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{0, byte(Benchmark)}, n)
}

// TestHostileForgedLength: a declared length of 0xFFFFFFFF closes the
// connection after the header, and the server allocates (far) less than the
// declared size. Allocation is measured as the growth of
// runtime.MemStats.TotalAlloc of the whole process around the attack, the
// bystander paused, so it bounds what the server allocated.
func TestHostileForgedLength(t *testing.T) {
	g := guardedServer(t, nil, nil)
	b := startBystander(t, g.p, g.addr, nil)
	nc := rawDial(t, g.addr)
	waitFor(t, 2*time.Second, "the connection", func() bool { return g.srv.Stats().ConnectionsActive == 2 })
	release := b.hold()
	var got []byte
	alloc := allocDuring(func() {
		nc.Write(benchHeader(0xFFFFFFFF))
		got = readUntilEOF(t, nc, 3*time.Second)
	})
	release()
	waitClose(t, g.srv, binproto.CloseTooLarge, 1)
	if len(got) != 0 {
		t.Errorf("the server answered %x", got)
	}
	t.Logf("allocated %d bytes around the forged frame", alloc)
	if alloc > 64<<10 {
		t.Errorf("%d bytes allocated around a forged 4 GiB frame, want < 64 KiB", alloc)
	}
}

// TestHostileLengthEdges: declared lengths around MaxPayloadSize (1024) are
// accepted up to the limit and refused past it, right after the header.
func TestHostileLengthEdges(t *testing.T) {
	const max = 1024
	g := guardedServer(t, func(c *binproto.Config) { c.MaxPayloadSize = max }, func(s *binproto.Server) {
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			return binproto.Msg(FixedBenchmark, map[string]any{"value": len(m.Payload)}), nil
		})
	})
	startBystander(t, g.p, g.addr, nil)
	refused := uint64(0)
	for _, n := range []uint32{0, 1, max - 1, max, max + 1, 1 << 31, 1<<32 - 1} {
		nc := rawDial(t, g.addr)
		if n <= max {
			nc.Write(append(benchHeader(n), make([]byte, n)...))
			reply := make([]byte, 6)
			if _, err := io.ReadFull(nc, reply); err != nil {
				t.Fatalf("length %d: %v", n, err)
			}
			if v := binary.BigEndian.Uint32(reply[2:]); reply[1] != byte(FixedBenchmark) || v != n {
				t.Errorf("length %d: reply %x", n, reply)
			}
			nc.Close()
			continue
		}
		nc.Write(benchHeader(n))
		if got := readUntilEOF(t, nc, 3*time.Second); len(got) != 0 {
			t.Errorf("length %d: answered %x", n, got)
		}
		refused++
		waitClose(t, g.srv, binproto.CloseTooLarge, refused)
	}
}

// TestHostileSlowloris: a frame dripped a byte every 500 ms is cut off
// at ReadTimeout (1 s) from its first byte.
func TestHostileSlowloris(t *testing.T) {
	const rt = time.Second
	g := guardedServer(t, func(c *binproto.Config) { c.ReadTimeout = rt }, nil)
	startBystander(t, g.p, g.addr, nil)
	nc := rawDial(t, g.addr)
	frame := append(benchHeader(100), make([]byte, 100)...)
	stop := make(chan struct{})
	dripped := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(dripped)
		for _, c := range frame {
			if _, err := nc.Write([]byte{c}); err != nil {
				return
			}
			select {
			case <-stop:
				return
			case <-time.After(500 * time.Millisecond):
			}
		}
	}()
	// The drip lasts 50 s: a close within the hang guard is the cut-off.
	readUntilEOF(t, nc, 15*time.Second)
	took := time.Since(start)
	close(stop)
	<-dripped
	waitClose(t, g.srv, binproto.CloseReadTimeout, 1)
	if took < rt*9/10 { // not before ReadTimeout (load only delays)
		t.Errorf("closed %v after the first byte, before ReadTimeout %v", took, rt)
	}
}

// TestHostileSilent: a connection that says nothing is closed at the auth
// deadline when authentication is on (with and without a challenge), and at
// IdleTimeout otherwise.
func TestHostileSilent(t *testing.T) {
	const d = 400 * time.Millisecond
	for _, c := range []struct {
		name   string
		setup  func(*binproto.Server)
		mod    func(*binproto.Config)
		creds  *binproto.ClientOptions
		reason binproto.CloseReason
	}{
		{"token", func(s *binproto.Server) { s.Auth, s.AuthTimeout = tokenAuth(), d }, nil, tokenCreds(bystanderToken), binproto.CloseAuthTimeout},
		{"hmac", func(s *binproto.Server) { s.Auth, s.AuthTimeout = hmacAuth(), d }, nil, hmacCreds("bystander", hmacSecret), binproto.CloseAuthTimeout},
		{"idle", nil, func(c *binproto.Config) { c.IdleTimeout = d }, nil, binproto.CloseIdleTimeout},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := guardedServer(t, c.mod, c.setup)
			startBystander(t, g.p, g.addr, c.creds)
			nc := rawDial(t, g.addr)
			took := expectClosed(t, nc, 15*time.Second) // a hang guard
			waitClose(t, g.srv, c.reason, 1)
			if took < d*3/4 { // not before the deadline (load only delays)
				t.Errorf("silent connection closed after %v, before its deadline %v", took, d)
			}
		})
	}
}

// TestHostilePreAuthOversize: a connection that sends more than
// MaxPreAuthBytes before authenticating is closed: at once for a declared
// length over the budget, or when the budget runs out for many small
// frames.
func TestHostilePreAuthOversize(t *testing.T) {
	never := binproto.AuthFunc(func(context.Context, *binproto.Conn) (binproto.AuthResult, error) {
		var step binproto.AuthStep
		step = func(context.Context, *binproto.Message) (binproto.AuthResult, error) {
			return binproto.AuthResult{Next: step}, nil // never decides
		}
		return binproto.AuthResult{Next: step}, nil
	})
	tokenFrame := func(t *testing.T, p *binproto.Protocol, tok []byte) []byte {
		b, err := p.AppendFrame(nil, binproto.Msg(authTypes.Token, map[string]any{"token": tok}))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	t.Run("declared", func(t *testing.T) {
		g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = tokenAuth() })
		startBystander(t, g.p, g.addr, tokenCreds(bystanderToken))
		nc := rawDial(t, g.addr)
		nc.Write(binary.BigEndian.AppendUint32([]byte{0, byte(authTypes.Token)}, 64<<10))
		// At once: the reason is the limit, not the auth deadline.
		expectClosed(t, nc, 10*time.Second)
		waitClose(t, g.srv, binproto.CloseAuthLimit, 1)
	})
	t.Run("many frames", func(t *testing.T) {
		g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = never })
		nc := rawDial(t, g.addr)
		one := tokenFrame(t, g.p, []byte("x"))
		go nc.Write(bytes.Repeat(one, (binproto.DefaultMaxPreAuthBytes/len(one))+100))
		expectClosed(t, nc, 3*time.Second)
		waitClose(t, g.srv, binproto.CloseAuthLimit, 1)
		if s := g.srv.Stats(); s.BytesIn > binproto.DefaultMaxPreAuthBytes {
			t.Errorf("%d bytes read before authentication, limit %d", s.BytesIn, binproto.DefaultMaxPreAuthBytes)
		}
	})
	t.Run("custom limit", func(t *testing.T) {
		g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth, s.MaxPreAuthBytes = tokenAuth(), 100 })
		startBystander(t, g.p, g.addr, tokenCreds(bystanderToken))
		nc := rawDial(t, g.addr)
		nc.Write(tokenFrame(t, g.p, bytes.Repeat([]byte(aliceToken), 20)))
		expectClosed(t, nc, 3*time.Second)
		waitClose(t, g.srv, binproto.CloseAuthLimit, 1)
	})
}

// TestHostileBeforeAuth: requests before authentication, a wrong token and
// requests pipelined behind it: the connection is closed, nothing is
// answered, and no handler runs.
func TestHostileBeforeAuth(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = tokenAuth() })
	startBystander(t, g.p, g.addr, tokenCreds(bystanderToken))
	req, _ := g.p.AppendFrame(nil, binproto.Msg(Benchmark, map[string]any{"data": []byte("hi")}))
	good, _ := g.p.AppendFrame(nil, binproto.Msg(authTypes.Token, map[string]any{"token": []byte(aliceToken)}))
	bad, _ := g.p.AppendFrame(nil, binproto.Msg(authTypes.Token, map[string]any{"token": []byte("guess")}))
	for i, attack := range [][]byte{
		append(bytes.Repeat(req, 5), good...),
		append(bad, bytes.Repeat(req, 5)...),
	} {
		nc := rawDial(t, g.addr)
		nc.Write(attack)
		if got := readUntilEOF(t, nc, 3*time.Second); len(got) != 0 {
			t.Errorf("attack %d: answered %x", i, got)
		}
		waitClose(t, g.srv, binproto.CloseAuthFailed, uint64(i+1))
	}
	if n := g.calls.Load(); n != 0 {
		t.Errorf("%d handler calls for unauthenticated connections", n)
	}
}

// frameReader reads the frames of p from a raw connection.
type frameReader struct {
	p  *binproto.Protocol
	rd *wire.FrameReader
}

func newFrameReader(p *binproto.Protocol, nc net.Conn) *frameReader {
	return &frameReader{p: p, rd: wire.NewFrameReader(nc, p.Framing(), 0)}
}

// next reads the next frame and decodes its fields.
func (r *frameReader) next(t testing.TB) (binproto.MessageType, map[string]any) {
	t.Helper()
	fr, err := r.rd.ReadFrame()
	if err != nil {
		t.Fatalf("reading a frame: %v", err)
	}
	typ := binproto.MessageType(fr.Type)
	f, err := r.p.Structure(typ).DecodePayload(fr.Payload)
	if err != nil {
		t.Fatalf("decoding a frame of type %d: %v", typ, err)
	}
	return typ, f
}

// TestHostileHMACReplay: a recorded HMAC exchange replayed on another
// connection fails, since each connection gets a fresh nonce.
func TestHostileHMACReplay(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.Auth = hmacAuth() })
	startBystander(t, g.p, g.addr, hmacCreds("bystander", hmacSecret))
	nonceOf := func(r *frameReader) []byte {
		typ, f := r.next(t)
		if typ != authTypes.Challenge {
			t.Fatalf("challenge: type %d", typ)
		}
		return f["nonce"].([]byte)
	}
	a := rawDial(t, g.addr)
	ra := newFrameReader(g.p, a)
	nonceA := nonceOf(ra)
	resp, err := g.p.AppendFrame(nil, binproto.Msg(authTypes.Response, map[string]any{
		"client_id": "carol", "mac": binproto.HMACResponse(hmacSecret, nonceA, "carol"),
	}))
	if err != nil {
		t.Fatal(err)
	}
	a.Write(resp)
	if typ, _ := ra.next(t); typ != authTypes.OK {
		t.Fatalf("genuine exchange: reply type %d", typ)
	}

	b := rawDial(t, g.addr)
	if nonceB := nonceOf(newFrameReader(g.p, b)); bytes.Equal(nonceA, nonceB) {
		t.Fatal("two connections got the same nonce")
	}
	b.Write(resp) // the recorded response
	if got := readUntilEOF(t, b, 3*time.Second); len(got) != 0 {
		t.Errorf("replayed exchange answered %x", got)
	}
	waitClose(t, g.srv, binproto.CloseAuthFailed, 1)
	if s := g.srv.Stats(); s.Authenticated != 2 { // the bystander and a
		t.Errorf("Stats.Authenticated = %d, want 2", s.Authenticated)
	}
}

// TestHostileSlowReader: a peer that sends requests and never reads the
// replies is disconnected at WriteTimeout, and the server's memory stays
// bounded by its queues meanwhile: the live heap, sampled after a GC
// every 20 ms, stays within a few MiB while the peer pushes megabytes.
func TestHostileSlowReader(t *testing.T) {
	g := guardedServer(t, func(c *binproto.Config) {
		c.MaxQueuedBytes = 16 << 10
		c.WriteTimeout = 300 * time.Millisecond
	}, nil)
	startBystander(t, g.p, g.addr, nil)
	req, err := g.p.AppendFrame(nil, binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 16<<10)}))
	if err != nil {
		t.Fatal(err)
	}
	var base, peak runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	sampled := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.GC() // measure what is retained, not what awaits collection
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.HeapAlloc {
				peak = m
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	nc := rawDial(t, g.addr)
	nc.(*net.TCPConn).SetReadBuffer(4096)
	sent := 0
	for sent < 256<<20 {
		nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
		n, err := nc.Write(req)
		sent += n
		if err != nil {
			break
		}
	}
	close(stop)
	<-sampled
	waitClose(t, g.srv, binproto.CloseWriteError, 1)
	grew := int64(peak.HeapAlloc) - int64(base.HeapAlloc)
	t.Logf("sent %d bytes before the disconnect; heap grew by at most %d bytes", sent, grew)
	if grew > 8<<20 {
		t.Errorf("heap grew by %d bytes while a peer refused to read", grew)
	}
}

// TestHostilePipelinedFlood: a flood of pipelined requests to slow
// handlers runs at most MaxConcurrentHandlers of them at once, and every
// request is answered, in order.
func TestHostilePipelinedFlood(t *testing.T) {
	const limit = 4
	var running, peak atomic.Int64
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.MaxConcurrentHandlers = limit
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			n := running.Add(1)
			defer running.Add(-1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(5 * time.Millisecond)
			f, err := m.Fields()
			return binproto.Msg(Benchmark, f), err
		})
	})
	startBystander(t, g.p, g.addr, nil)
	cl := dial(t, g.p, g.addr, nil)
	ctx := testCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := []byte(fmt.Sprint("req", i))
			m, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": data}))
			if err == nil {
				if f, _ := m.Fields(); !bytes.Equal(f["data"].([]byte), data) {
					err = fmt.Errorf("request %d answered %q", i, f["data"])
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > limit || p < 2 {
		t.Errorf("%d handlers ran at once, want 2..%d", p, limit)
	}
}

// TestHostileConnectionFlood: connections over MaxConnections are closed at
// once; those already open are unaffected.
func TestHostileConnectionFlood(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) { s.MaxConnections = 4 })
	startBystander(t, g.p, g.addr, nil)
	var held []*binproto.Client
	for range 3 {
		held = append(held, dial(t, g.p, g.addr, nil))
	}
	waitFor(t, 2*time.Second, "4 connections", func() bool { return g.srv.Stats().ConnectionsActive == 4 })
	for range 20 {
		nc := rawDial(t, g.addr)
		expectClosed(t, nc, 10*time.Second) // no timeout is set: a close at all is at once
		nc.Close()
	}
	ctx := testCtx(t, 5*time.Second)
	for i, cl := range held {
		if err := checkStatusEcho(ctx, cl, i); err != nil {
			t.Errorf("held connection %d: %v", i, err)
		}
	}
	if s := g.srv.Stats(); s.ConnectionsRejected != 20 || s.Closes[binproto.CloseLimit] != 20 || s.ConnectionsActive != 4 {
		t.Errorf("stats: %d rejected, %d limit closes, %d active", s.ConnectionsRejected, s.Closes[binproto.CloseLimit], s.ConnectionsActive)
	}
}

// TestHostilePanicsUnderLoad: handlers that panic while others serve close
// only their own connections.
func TestHostilePanicsUnderLoad(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.MaxConcurrentHandlers = 2
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			f, err := m.Fields()
			if err == nil && string(f["data"].([]byte)) == "panic" {
				panic("hostile input")
			}
			return binproto.Msg(Benchmark, f), err
		})
	})
	startBystander(t, g.p, g.addr, nil)
	ctx := testCtx(t, 10*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for c := range 16 {
		cl := dial(t, g.p, g.addr, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 30 {
				if err := checkStatusEcho(ctx, cl, c*100+i); err != nil {
					errs <- fmt.Errorf("client %d: %w", c, err)
					return
				}
				if c%2 == 1 && i == 20 {
					_, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": []byte("panic")}))
					if !isClosedErr(err) {
						errs <- fmt.Errorf("client %d: panicking request: %v", c, err)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	waitClose(t, g.srv, binproto.CloseHandlerPanic, 8)
	if s := g.srv.Stats(); s.HandlerPanics != 8 {
		t.Errorf("Stats.HandlerPanics = %d, want 8", s.HandlerPanics)
	}
}

// TestHostilePeerReset: peers that reset the connection in the middle of a
// frame, or with replies pending, are cleaned up.
func TestHostilePeerReset(t *testing.T) {
	g := guardedServer(t, nil, nil)
	startBystander(t, g.p, g.addr, nil)
	req, _ := g.p.AppendFrame(nil, binproto.Msg(Benchmark, map[string]any{"data": make([]byte, 4096)}))
	for i := range 20 {
		before := g.srv.Stats()
		nc := rawDial(t, g.addr)
		if i%2 == 0 {
			nc.Write(req[:len(req)/2]) // mid-frame
		} else {
			nc.Write(bytes.Repeat(req, 20)) // replies pending
		}
		// Reset once the server serves the connection (and, for replies
		// pending, has read a request).
		waitFor(t, 10*time.Second, "the server to serve the connection", func() bool {
			s := g.srv.Stats()
			return s.ConnectionsAccepted > before.ConnectionsAccepted && (i%2 == 0 || s.MessagesIn > before.MessagesIn)
		})
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	}
	defer func() {
		if t.Failed() {
			buf := make([]byte, 1<<20)
			t.Logf("stats %+v\n%s", g.srv.Stats(), buf[:runtime.Stack(buf, true)])
		}
	}()
	waitFor(t, 3*time.Second, "the reset connections to close", func() bool {
		s := g.srv.Stats()
		return s.ConnectionsActive == 1 && s.Closes[binproto.ClosePeer]+s.Closes[binproto.CloseReadError]+s.Closes[binproto.CloseWriteError] == 20
	})
}

// TestHostileShutdownInFlight: Shutdown with 50 requests in their handlers
// delivers all 50 replies before it closes the connections.
func TestHostileShutdownInFlight(t *testing.T) {
	gate := make(chan struct{})
	var started sync.WaitGroup
	started.Add(50)
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.MaxConcurrentHandlers = 5
		s.HandleFunc(Benchmark, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
			started.Done()
			<-gate
			f, err := m.Fields()
			return binproto.Msg(Benchmark, f), err
		})
	})
	b := startBystander(t, g.p, g.addr, nil)
	ctx := testCtx(t, 10*time.Second)
	errs := make(chan error, 50)
	for c := range 10 {
		cl := dial(t, g.p, g.addr, nil)
		for i := range 5 {
			go func() {
				data := []byte(fmt.Sprint(c, "/", i))
				m, err := cl.Request(ctx, binproto.Msg(Benchmark, map[string]any{"data": data}))
				if err == nil {
					if f, _ := m.Fields(); !bytes.Equal(f["data"].([]byte), data) {
						err = fmt.Errorf("reply %q to %q", f["data"], data)
					}
				}
				errs <- err
			}()
		}
	}
	started.Wait()
	b.stop(t) // the bystander's requests would fail once the server shuts down
	shut := make(chan error, 1)
	go func() { shut <- g.srv.Shutdown(ctx) }()
	// Shutdown has begun once the listener refuses connections.
	waitFor(t, 10*time.Second, "Shutdown to close the listener", func() bool {
		nc, err := net.DialTimeout("tcp", g.addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err != nil
	})
	close(gate)
	for range 50 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// TestHostileShutdownStuck: a handler that never returns does not hold
// Shutdown past its deadline.
func TestHostileShutdownStuck(t *testing.T) {
	stuck := make(chan struct{})
	defer close(stuck) // runs before the leak checks
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.HandleFunc(Benchmark, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
			<-stuck // ignores its context
			return binproto.NoReply, nil
		})
	})
	b := startBystander(t, g.p, g.addr, nil)
	cl := dial(t, g.p, g.addr, nil)
	failed := make(chan error, 1)
	go func() {
		_, err := cl.Request(testCtx(t, 10*time.Second), binproto.Msg(Benchmark, map[string]any{"data": []byte("x")}))
		failed <- err
	}()
	waitFor(t, 2*time.Second, "the stuck request", func() bool { return g.srv.Stats().MessagesIn >= uint64(b.n.Load())+1 })
	b.stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- g.srv.Shutdown(ctx) }()
	select {
	case err := <-shut:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want DeadlineExceeded", err)
		}
	case <-time.After(10 * time.Second): // a hang guard: the handler never returns
		t.Fatal("Shutdown did not return at its deadline")
	}
	if err := <-failed; !isClosedErr(err) {
		t.Errorf("the stuck request: %v, want the connection closed", err)
	}
}

// TestHostileCloseShutdownRace: Close and Shutdown, twice each and
// concurrently, while clients are busy.
func TestHostileCloseShutdownRace(t *testing.T) {
	g := guardedServer(t, nil, nil)
	ctx := testCtx(t, 5*time.Second)
	var busy sync.WaitGroup
	for c := range 4 {
		cl := dial(t, g.p, g.addr, nil)
		busy.Add(1)
		go func() {
			defer busy.Done()
			for i := 0; checkStatusEcho(ctx, cl, c*100000+i) == nil; i++ {
			}
		}()
	}
	waitFor(t, 10*time.Second, "the clients busy", func() bool { return g.srv.Stats().MessagesOut >= 40 })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i%2 == 0 {
				g.srv.Close()
			} else if err := g.srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		}()
	}
	wg.Wait()
	busy.Wait()
	if s := g.srv.Stats(); s.ConnectionsActive != 0 {
		t.Errorf("%d connections still active", s.ConnectionsActive)
	}
}

// TestHostileNotFoundKeepalive: a peer that sends nothing but not-found
// headers (ff ff), which are never dispatched, is closed by IdleTimeout: only
// frames that reach a handler or the authenticator count as activity. Such
// headers every 50 ms used to hold a connection open for ever.
func TestHostileNotFoundKeepalive(t *testing.T) {
	const idle = 300 * time.Millisecond
	g := guardedServer(t, func(c *binproto.Config) { c.IdleTimeout = idle }, nil)
	nc := rawDial(t, g.addr)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := nc.Write([]byte{0xff, 0xff}); err != nil {
					return
				}
			}
		}
	}()
	if got := readUntilEOF(t, nc, 10*time.Second); len(got) != 0 {
		t.Errorf("server answered %x", got)
	}
	waitFor(t, 5*time.Second, "idle_timeout close", func() bool { return closeCount(g.srv, binproto.CloseIdleTimeout) == 1 })
}

// TestHostilePreAuthSilence: before a connection has authenticated the
// server sends nothing but the authenticator's own messages: an unknown
// type (99, or 0) closes the connection without the not-found reply that
// would tell a scanner which types are configured.
func TestHostilePreAuthSilence(t *testing.T) {
	g := guardedServer(t, nil, func(s *binproto.Server) {
		s.Auth = &binproto.TokenAuth{Types: authTypes, Tokens: map[string]string{"s3cret-token-0123456789": "alice"}}
	})
	for _, typ := range []byte{99, 0} {
		nc := rawDial(t, g.addr)
		nc.Write([]byte{0x00, typ, 1, 2, 3, 4})
		if got := readUntilEOF(t, nc, 10*time.Second); len(got) != 0 {
			t.Errorf("type %d before authentication: server answered %x", typ, got)
		}
	}
	waitFor(t, 5*time.Second, "the closes", func() bool { return closeCount(g.srv, binproto.CloseUnknownType) == 2 })
}

// TestHostileMemoryBudget: 40 peers each declare a 1 MiB frame, send
// 512 KiB of it at once, then stall. Without a bound the server would hold
// all 20 MiB; with MaxBufferedBytes of 2 MiB it holds at most that beyond
// each connection's 4 KiB buffer (the rest waits in the kernel, TCP
// pushing back), the bystander is served throughout, and the stalled
// frames time out and give their bytes back.
func TestHostileMemoryBudget(t *testing.T) {
	const budget = 2 << 20
	g := guardedServer(t, func(c *binproto.Config) { c.ReadTimeout = 3 * time.Second }, func(s *binproto.Server) {
		s.MaxBufferedBytes = budget
	})
	by := startBystander(t, g.p, g.addr, nil)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const peers, sent = 40, 512 << 10
	head := []byte{0x00, byte(Benchmark), 0x00, 0x10, 0x00, 0x00} // total_len 1 MiB
	body := make([]byte, sent)
	var conns []net.Conn
	for range peers {
		nc := rawDial(t, g.addr)
		conns = append(conns, nc)
		go func() {
			nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			nc.Write(head)
			nc.Write(body) // blocks once the server stops reading: fine
		}()
	}
	// Sample while the peers push: the budget is never exceeded.
	deadline := time.Now().Add(time.Second)
	var peak int64
	for time.Now().Before(deadline) {
		peak = max(peak, g.srv.Stats().BufferedBytes)
		time.Sleep(5 * time.Millisecond)
	}
	runtime.GC()
	var during runtime.MemStats
	runtime.ReadMemStats(&during)
	grown := int64(during.HeapInuse) - int64(before.HeapInuse)
	t.Logf("budget peak %d B, heap grew %d KiB while %d peers pushed %d KiB each", peak, grown>>10, peers, sent>>10)
	if peak > budget {
		t.Errorf("BufferedBytes reached %d, over the budget %d", peak, budget)
	}
	// The server's share: at most the budget, the peers' own buffers and
	// a 4 KiB buffer per connection, with room for geometric growth; the
	// 20 MiB pushed would be far over.
	if limit := int64(3*budget + peers*(sent/8)); grown > limit {
		t.Errorf("heap grew %d bytes, want at most %d", grown, limit)
	}
	for _, nc := range conns {
		readUntilEOF(t, nc, 15*time.Second) // the stalled frames time out
	}
	waitFor(t, 10*time.Second, "the budget to be given back", func() bool { return g.srv.Stats().BufferedBytes == 0 })
	if n := by.n.Load(); n < 10 {
		t.Errorf("the bystander made %d requests", n)
	}
}
