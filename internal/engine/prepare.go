package engine

import (
	"net"
	"time"
)

// Prepare serves nc, a connection accepted but not yet served, whose first
// bytes must be read before the engine may run it (a PROXY protocol header,
// which says whose connection it is, comes before any TLS handshake and
// before the server writes anything). read reads them within timeout (a
// deadline on nc; <= 0: none), and reports whether to go on (it closed nc
// if not); the deadline lifted, admit returns the connection to run,
// registered with Add, or nil, and the connection runs. All of it runs on
// a goroutine of its own when async is set (never on an accept loop), on
// the caller's otherwise, with nc registered with the group until admit
// returns, so that Close and Shutdown close nc meanwhile. Prepare returns
// false, running nothing, when the group is closing: the caller must close
// nc.
func (g *Group) Prepare(nc net.Conn, timeout time.Duration, async bool, read func() bool, admit func() *Conn) bool {
	if !g.addPending(nc) {
		return false
	}
	run := func() {
		if timeout > 0 {
			nc.SetDeadline(time.Now().Add(timeout))
		}
		ok := read()
		var c *Conn
		if ok {
			if timeout > 0 {
				nc.SetDeadline(time.Time{})
			}
			c = admit()
		}
		g.removePending(nc) // after Add: the group's count never drops to zero in between
		if c != nil {
			c.Run()
		}
	}
	if async {
		go run()
	} else {
		run()
	}
	return true
}

func (g *Group) addPending(nc net.Conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.initLocked()
	if g.closing.Load() {
		return false
	}
	if g.pending == nil {
		g.pending = make(map[net.Conn]struct{})
	}
	g.pending[nc] = struct{}{}
	g.wg.Add(1)
	return true
}

func (g *Group) removePending(nc net.Conn) {
	g.mu.Lock()
	delete(g.pending, nc)
	g.mu.Unlock()
	g.wg.Done()
}
