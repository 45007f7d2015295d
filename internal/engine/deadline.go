package engine

import (
	"net"
	"sync"
	"time"
)

// drainGrace is how long a draining connection goes on reading: frames
// that arrive within it (sent before the peer could know of the drain) are
// still served. It starts once, when the drain begins, and is never renewed,
// so that a peer that keeps sending cannot hold a shutdown open.
const drainGrace = 20 * time.Millisecond

// deadlines is a connection's one read-deadline state. Four deadlines
// apply, one at a time:
//
//   - handshake: a TLS handshake must finish within HandshakeTimeout;
//   - frame: once a frame has begun, it must be complete within ReadTimeout
//     of its first read;
//   - idle: a server connection that has had no frame dispatched (Touch)
//     for IdleTimeout while nothing is in flight closes: frames that reach
//     no handler (a not-found header, refused messages) do not keep it open;
//   - drain: once the server drains, reading stops at a fixed time.
//
// The read goroutine arms them before each read (beforeRead), the server
// (drain) from another goroutine, under mu. The idle deadline is set in
// steps of an eighth of IdleTimeout beyond the last activity, not at every
// read, and checked when it expires (idleExpired): a connection busy or
// active meanwhile reads on. So a connection idles out between IdleTimeout
// and 1.125 times it, and reads cost no timer update.
type deadlines struct {
	nc    net.Conn
	frame time.Duration
	idle  time.Duration
	busy  func() bool // requests in flight: the connection is not idle

	mu         sync.Mutex
	set        time.Time // the read deadline set on nc; zero: none
	frameAt    time.Time // the current frame's deadline; zero: no frame begun; the reader's alone
	draining   bool
	drainAt    time.Time
	lastActive time.Time // the idle timeout runs from here: the last frame dispatched (touch), or the last request completed
	touched    bool      // a frame was dispatched since the last read: lastActive moves to the next read; the reader's alone
	callAt     time.Time // a direct reader's caller's deadline (direct.go); zero: none
	gen        uint64    // counts direct reads, so that a late cancellation is ignored
}

// setLocked sets the read deadline to t unless it is set already.
func (d *deadlines) setLocked(t time.Time) {
	if !t.Equal(d.set) {
		d.nc.SetReadDeadline(t)
		d.set = t
	}
}

// beforeRead arms the deadline of the read about to be made; partial
// reports whether part of a frame is buffered.
func (d *deadlines) beforeRead(partial bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.draining:
		d.setLocked(d.drainAt)
	case partial:
		if d.frameAt.IsZero() && d.frame > 0 {
			d.frameAt = time.Now().Add(d.frame)
		}
		d.setLocked(earliest(d.frameAt, d.callAt))
	case !d.callAt.IsZero():
		d.setLocked(d.callAt)
	case d.idle > 0:
		if d.touched {
			d.lastActive, d.touched = time.Now(), false
		}
		if want := d.lastActive.Add(d.idle); d.set.IsZero() || d.set.Before(want) {
			d.setLocked(want.Add(d.idle / 8))
		}
	default:
		d.setLocked(time.Time{})
	}
}

// frameDone ends the whole-frame deadline of the frame just read. Only the
// reader touches frameAt, so it takes no lock.
func (d *deadlines) frameDone() {
	if !d.frameAt.IsZero() {
		d.frameAt = time.Time{}
	}
}

// active records activity from another goroutine (a request completed):
// the idle timeout runs from now.
func (d *deadlines) active() {
	if d.idle <= 0 {
		return
	}
	d.mu.Lock()
	d.lastActive = time.Now()
	d.mu.Unlock()
}

// idleExpired reports whether a read that timed out with no frame begun
// means the connection has idled out: nothing in flight, and no activity
// for IdleTimeout. Otherwise the reader reads on (the next beforeRead moves
// the deadline); requests in flight count as activity. Called by the
// reader.
func (d *deadlines) idleExpired() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.draining || d.idle <= 0 || !d.callAt.IsZero() {
		return true
	}
	now := time.Now()
	if d.touched {
		d.lastActive, d.touched = now, false
	}
	if d.busy() {
		d.lastActive = now
		return false
	}
	return !now.Before(d.lastActive.Add(d.idle))
}

// drain makes reading stop drainGrace from the first call; later calls
// re-apply the same deadline, never a later one.
func (d *deadlines) drain() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.draining {
		d.draining = true
		d.drainAt = time.Now().Add(drainGrace)
	}
	d.set = time.Time{} // whoever else set a deadline, set ours again
	d.setLocked(d.drainAt)
}

func (d *deadlines) isDraining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining
}

// handshake bounds a TLS handshake, reads and writes, by t (none if t <= 0).
func (d *deadlines) handshake(t time.Duration) {
	if t <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	at := time.Now().Add(t)
	if d.draining && d.drainAt.Before(at) {
		at = d.drainAt
	}
	d.nc.SetDeadline(at)
	d.set = at
}

// handshakeDone lifts the handshake's deadline.
func (d *deadlines) handshakeDone() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nc.SetWriteDeadline(time.Time{})
	if d.draining {
		d.setLocked(d.drainAt)
		return
	}
	d.setLocked(time.Time{})
}

// linger bounds the reads of Conn.linger by t from now; it is never
// renewed.
func (d *deadlines) linger(t time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setLocked(time.Now().Add(t))
}

// earliest returns the earlier of two deadlines, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// touch records activity: the idle timeout runs from the next read. It
// costs a store: the clock is read once per read, not once per frame.
// Called by the reader only.
func (d *deadlines) touch() { d.touched = true }

// readDeadline returns the read deadline set now (zero: none).
func (d *deadlines) readDeadline() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.set
}
