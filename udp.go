package binproto

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// ServePacket serves UDP datagrams from pc: one frame per datagram, replies
// sent to the sender. Oversized and malformed datagrams are dropped and
// counted. It returns ErrServerClosed after Shutdown or Close; pc is closed
// when ServePacket returns.
//
// Server.UDP sets how: each source IP address has a budget of datagrams
// per second, checked before a datagram is decoded (over it, datagrams are
// dropped and counted in Stats.DatagramsThrottled), so that one flooding
// source cannot take the server from the others; several goroutines read
// pc at once; the socket's receive buffer is enlarged. The datagrams of one
// source address and port are handled one at a time.
//
// A Server reads datagrams only here (and in ListenAndServe with a UDP
// Protocol): Serve never opens a UDP socket. Since a datagram's source
// address can be forged, a reply larger than the datagram it answers is
// dropped and counted in Stats.AmplificationDrops, unless
// AllowUDPAmplification is set. RateLimit (per source address and per IP)
// and validators apply; Auth cannot, so a server with an Authenticator is
// refused with a *ConfigError, as is a Protocol whose Transport is not UDP
// (its MaxPayloadSize is not clamped to what a datagram holds).
//
// A handler's reply is covered by the amplification guard; messages pushed
// to a UDP peer with Conn.Send are not (see SECURITY.md).
func (s *Server) ServePacket(pc net.PacketConn) error {
	if err := s.init(); err != nil {
		pc.Close()
		return err
	}
	if s.Protocol.cfg.Transport != UDP {
		pc.Close()
		return &ConfigError{Option: "Server.Protocol", Reason: "ServePacket needs a Protocol whose Transport is UDP"}
	}
	if err := s.checkPacket(); err != nil { // no Auth over UDP (security.go)
		pc.Close()
		return err
	}
	if rb := s.UDP.readBuffer(); rb > 0 {
		if sb, ok := pc.(interface{ SetReadBuffer(int) error }); ok {
			if err := sb.SetReadBuffer(rb); err != nil {
				s.logger().Warn("binproto: UDP receive buffer not set", "bytes", rb, "err", err)
			}
		}
	}
	peers := &packetPeers{s: s, pc: pc, m: make(map[peerKey]*packetPeer)}
	o := engine.PacketOptions{Readers: s.UDP.readers(), Handle: peers.serve}
	if b := newSourceBudget(&s.UDP, &s.stats.DatagramsThrottled); b != nil {
		o.Admit = b.admit
	}
	// Handlers' contexts end with the packet server (or their peer's
	// entry), as they do with a TCP connection.
	// Queued datagrams are then handled (on closed Conns) and released.
	defer peers.drains.Wait()
	defer peers.closeAll(CloseShutdown, ErrServerClosed)
	err := s.conns.ServePacket(pc, o)
	if errors.Is(err, engine.ErrClosed) {
		return ErrServerClosed
	}
	return err
}

// packetPeers are the Conns that reply and push to the peers of one packet
// socket. Its readers use it concurrently.
type packetPeers struct {
	s      *Server
	pc     net.PacketConn
	queued atomic.Int64   // bytes of datagrams waiting for their busy peers
	drains sync.WaitGroup // goroutines handling queued datagrams

	mu sync.Mutex
	m  map[peerKey]*packetPeer
}

// peerKey identifies a source: its IP address and port, or, for a source
// that is not IP, the text of its address.
type peerKey struct {
	ap  netip.AddrPort
	str string
}

// packetPeer is one source's Conn. Its datagrams are handled one at a time
// (by whoever set busy), since the Conn's read-side state (the message, the
// reply buffer, the rate buckets, the order of concurrent handlers) belongs
// to one goroutine at a time, as it belongs to the read goroutine of a TCP
// connection. A reader that reads a datagram of a busy peer queues a copy
// and goes back to reading, so that no source can hold more than one
// reader: the queue is then handled by a goroutine of its own.
type packetPeer struct {
	c *Conn

	mu     sync.Mutex
	busy   bool
	queue  []*[]byte // copies of datagrams, in the order they were read
	queued int       // bytes in queue
}

const (
	// maxPacketPeers bounds the per-address Conns a packet server keeps.
	maxPacketPeers = 1024
	// maxPeerQueue and maxPeerQueued bound the datagrams and bytes queued
	// for one busy peer (one datagram always fits), maxPacketQueued the
	// bytes queued for all the peers of a socket.
	maxPeerQueue    = 128
	maxPeerQueued   = 64 << 10
	maxPacketQueued = 4 << 20
)

// serve handles the datagram b from from (or addr): at once if its peer is
// idle, else queued for it (or dropped and counted as throttled when its
// queue is full).
func (pp *packetPeers) serve(b []byte, from netip.AddrPort, addr net.Addr) {
	p := pp.peer(from, addr)
	p.mu.Lock()
	if p.busy {
		pp.enqueue(p, b)
		p.mu.Unlock()
		return
	}
	p.busy = true
	p.mu.Unlock()
	pp.handle(p.c, b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		p.busy = false
		return
	}
	engine.Go(&pp.drains, func() { pp.drain(p) })
}

// enqueue queues a copy of b for the busy peer p; p.mu is held.
func (pp *packetPeers) enqueue(p *packetPeer, b []byte) {
	n := int64(len(b))
	if len(p.queue) >= maxPeerQueue || p.queued+len(b) > maxPeerQueued {
		pp.s.stats.DatagramsThrottled.Add(1)
		return
	}
	if pp.queued.Add(n) > maxPacketQueued {
		pp.queued.Add(-n)
		pp.s.stats.DatagramsThrottled.Add(1)
		return
	}
	buf := getBuffer(pp.s.Protocol, len(b))
	*buf = append((*buf)[:0], b...)
	p.queue = append(p.queue, buf)
	p.queued += len(b)
}

// drain handles p's queued datagrams until there are none. Those still
// queued when its Conn closes (the server closing) are dropped.
func (pp *packetPeers) drain(p *packetPeer) {
	for {
		p.mu.Lock()
		if len(p.queue) == 0 {
			p.busy = false
			p.queue = nil
			p.mu.Unlock()
			return
		}
		buf := p.queue[0]
		p.queue[0] = nil
		p.queue = p.queue[1:]
		p.queued -= len(*buf)
		p.mu.Unlock()
		if p.c.Context().Err() == nil { // else the server is closing
			pp.handle(p.c, *buf)
		}
		pp.queued.Add(-int64(len(*buf)))
		putBuffer(pp.s.Protocol, buf)
	}
}

// handle parses the datagram b of c's peer and dispatches it as a TCP frame
// is (screening, handler), its handler's error logged, never closing
// anything.
func (pp *packetPeers) handle(c *Conn, b []byte) {
	s := pp.s
	fr, perr := s.Protocol.framing.ParseExact(b)
	if perr != nil {
		s.stats.DatagramsDropped.Add(1)
		s.logger().Debug("binproto: datagram dropped", "from", c.RemoteAddr(), "err", perr)
		var unknown *wire.UnknownTypeError
		if errors.As(perr, &unknown) && s.allowFrame(c, len(b)) {
			// A datagram delimits its frame, so unlike TCP the
			// connection survives: answer NOT_FOUND as Python does,
			// within the rate limits. The header alone is never larger
			// than the request.
			nf := s.Protocol.framing.AppendNotFound(b[:0])
			if _, err := pp.pc.WriteTo(nf, c.RemoteAddr()); err == nil {
				s.stats.NotFound.Add(1)
				s.stats.Sent(len(nf))
			}
		}
		return
	}
	s.stats.Received(fr.Len)
	if err := (*serverConn)(c).Dispatch(c.e, fr); err != nil {
		s.logger().Info("binproto: datagram not answered", "from", c.RemoteAddr(), "err", err)
	}
}

// peer returns the peer that replies and pushes to the source. A Conn that
// has closed (its writer failed, say) is replaced by a fresh one, so that
// one failed write does not silence a peer for good.
func (pp *packetPeers) peer(from netip.AddrPort, addr net.Addr) *packetPeer {
	key := peerKey{ap: from}
	if !from.IsValid() {
		key.str = addr.String()
	}
	pp.mu.Lock()
	defer pp.mu.Unlock()
	if p, ok := pp.m[key]; ok {
		if p.c.Context().Err() == nil {
			return p
		}
		delete(pp.m, key)
	}
	if len(pp.m) >= maxPacketPeers {
		pp.closeAllLocked(CloseLocal, nil)
	}
	pa := &engine.PacketPeer{PC: pp.pc, Addr: engine.SourceAddr(from, addr)}
	c := newConn(pp.s.Protocol, pa, pp.s.udpOpts, func(c *Conn) engine.Dispatcher { return (*serverConn)(c) })
	c.srv, c.obs = pp.s, pp.s.obs
	pp.s.secPacket(c)
	p := &packetPeer{c: c}
	pp.m[key] = p
	return p
}

func (pp *packetPeers) closeAll(r CloseReason, err error) {
	pp.mu.Lock()
	defer pp.mu.Unlock()
	pp.closeAllLocked(r, err)
}

func (pp *packetPeers) closeAllLocked(r CloseReason, err error) {
	for _, p := range pp.m {
		p.c.e.Close(r, err)
	}
	clear(pp.m)
}
