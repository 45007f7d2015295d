package binproto

import (
	"errors"
	"net"
	"net/netip"
	"sync"

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
	s  *Server
	pc net.PacketConn

	mu sync.Mutex
	m  map[peerKey]*packetPeer
}

// peerKey identifies a source: its IP address and port, or, for a source
// that is not IP, the text of its address.
type peerKey struct {
	ap  netip.AddrPort
	str string
}

// packetPeer is one source's Conn. mu serialises the handling of its
// datagrams, which different readers may read: the Conn's read-side state
// (the message, the reply buffer, the rate buckets, the order of
// concurrent handlers) belongs to whoever holds it, as it belongs to the
// read goroutine of a TCP connection.
type packetPeer struct {
	mu sync.Mutex
	c  *Conn
}

// maxPacketPeers bounds the per-address Conns a packet server keeps.
const maxPacketPeers = 1024

// serve handles the datagram b from from (or addr): parsed, then dispatched
// as a TCP frame is (screening, handler), its handler's error logged, never
// closing anything.
func (pp *packetPeers) serve(b []byte, from netip.AddrPort, addr net.Addr) {
	s := pp.s
	p := pp.peer(from, addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.c
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
	c.srv = pp.s
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
