package engine

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrClosed is returned by Group.Serve and Group.ServePacket once the group
// is closing; the root package maps it to ErrServerClosed.
var ErrClosed = errors.New("binproto: server closed")

// Group is the set of connections, listeners and packet sockets of one
// server. The zero value is ready to use.
type Group struct {
	mu        sync.Mutex
	conns     map[*Conn]struct{}
	listeners map[net.Listener]struct{}
	packets   map[net.PacketConn]struct{}
	wg        sync.WaitGroup // connections and packet loops
	closing   atomic.Bool
	stopped   chan struct{} // closed by Close
	stopOnce  sync.Once

	pending map[net.Conn]struct{} // connections being prepared (prepare.go)
}

func (g *Group) initLocked() {
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
		g.listeners = make(map[net.Listener]struct{})
		g.packets = make(map[net.PacketConn]struct{})
		g.stopped = make(chan struct{})
	}
}

// Closing reports whether Shutdown or Close has begun.
func (g *Group) Closing() bool { return g.closing.Load() }

// Add registers c, unless the group is closing: then it returns false and c
// must be closed by the caller. A registered connection leaves the group
// when it finishes.
func (g *Group) Add(c *Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if g.closing.Load() {
		return false
	}
	g.conns[c] = struct{}{}
	c.group = g
	g.wg.Add(1)
	return true
}

func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.wg.Done()
}

// Conns returns the connections open now.
func (g *Group) Conns() []*Conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	return conns
}

// Serve accepts connections on l until the group closes, handing each to
// accept, which returns the connection to run (started on a goroutine of
// its own) or nil. Temporary accept errors (out of file descriptors,
// buffers or memory, a connection aborted before it was accepted) are
// retried with a back-off of 5 ms doubling to 1 s, as net/http does. l is
// closed when Serve returns ErrClosed or the error that stopped it.
func (g *Group) Serve(l net.Listener, log *slog.Logger, accept func(nc net.Conn) *Conn) error {
	if !g.track(l) {
		l.Close()
		return ErrClosed
	}
	defer g.untrack(l)
	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if g.closing.Load() {
				return ErrClosed
			}
			if temporaryAcceptError(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Warn("binproto: accept error; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if c := accept(nc); c != nil {
			c.StartReading()
		}
	}
}

// acceptRetryErrnos are the accept errors after which Serve backs off and
// tries again rather than returning.
var acceptRetryErrnos = []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED}

func temporaryAcceptError(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	for _, errno := range acceptRetryErrnos {
		if errors.Is(err, errno) {
			return true
		}
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (g *Group) track(l net.Listener) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if g.closing.Load() {
		return false
	}
	g.listeners[l] = struct{}{}
	return true
}

func (g *Group) untrack(l net.Listener) {
	g.mu.Lock()
	delete(g.listeners, l)
	g.mu.Unlock()
	l.Close()
}

// Shutdown closes the listeners and packet sockets and drains every
// connection: each stops reading within drainGrace, finishes the handlers
// already running, writes their replies and closes. It returns nil once
// all are gone, or, when ctx ends first, force-closes the rest with
// reason and err and returns ctx's error.
func (g *Group) Shutdown(ctx context.Context, reason Reason, err error) error {
	g.beginClose()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		// Repeated: a connection registered meanwhile drains too.
		for _, c := range g.Conns() {
			c.Drain()
		}
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			g.Close(reason, err)
			return ctx.Err()
		case <-g.stopped:
			// Close ran meanwhile: report nil once the connections are
			// gone, as a completed drain would.
			select {
			case <-done:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case <-tick.C:
		}
	}
}

// Close closes the listeners, packet sockets and every connection at once,
// with reason and err.
func (g *Group) Close(reason Reason, err error) {
	g.beginClose()
	g.stopOnce.Do(func() { close(g.stopped) })
	for _, c := range g.Conns() {
		c.Close(reason, err)
	}
}

func (g *Group) beginClose() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	g.closing.Store(true)
	for l := range g.listeners {
		l.Close()
	}
	for pc := range g.packets {
		pc.Close()
	}
	for nc := range g.pending {
		nc.Close()
	}
}
