package binproto

import (
	"errors"
	"net"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// ServePacket serves UDP datagrams from pc: one frame per datagram, each
// handled in turn, replies sent to the sender. Oversized and malformed
// datagrams are dropped and counted. It returns ErrServerClosed after
// Shutdown or Close; pc is closed when ServePacket returns.
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
	peers := packetPeers{s: s, pc: pc, m: make(map[string]*Conn)}
	// Handlers' contexts end with the packet server (or their peer's
	// entry), as they do with a TCP connection.
	defer peers.closeAll(CloseShutdown, ErrServerClosed)
	err := s.conns.ServePacket(pc, peers.serve)
	if errors.Is(err, engine.ErrClosed) {
		return ErrServerClosed
	}
	return err
}

// packetPeers are the Conns that reply and push to the peers of one packet
// socket; owned by its ServePacket loop.
type packetPeers struct {
	s  *Server
	pc net.PacketConn
	m  map[string]*Conn
}

// maxPacketPeers bounds the per-address Conns a packet server keeps.
const maxPacketPeers = 1024

// serve handles the datagram b from addr: parsed, then dispatched as a TCP
// frame is (screening, handler), its handler's error logged, never closing
// anything.
func (pp *packetPeers) serve(b []byte, addr net.Addr) {
	s := pp.s
	fr, perr := s.Protocol.framing.ParseExact(b)
	if perr != nil {
		s.stats.DatagramsDropped.Add(1)
		s.logger().Debug("binproto: datagram dropped", "from", addr, "err", perr)
		var unknown *wire.UnknownTypeError
		if errors.As(perr, &unknown) && s.allowFrame(pp.peer(addr), len(b)) {
			// A datagram delimits its frame, so unlike TCP the
			// connection survives: answer NOT_FOUND as Python does,
			// within the rate limits. The header alone is never larger
			// than the request.
			nf := s.Protocol.framing.AppendNotFound(b[:0])
			if _, err := pp.pc.WriteTo(nf, addr); err == nil {
				s.stats.NotFound.Add(1)
				s.stats.Sent(len(nf))
			}
		}
		return
	}
	c := pp.peer(addr)
	s.stats.Received(fr.Len)
	if err := (*serverConn)(c).Dispatch(c.e, fr); err != nil {
		s.logger().Info("binproto: datagram not answered", "from", addr, "err", err)
	}
}

// peer returns the Conn that replies and pushes to addr. A Conn that has
// closed (its writer failed, say) is replaced by a fresh one, so that one
// failed write does not silence a peer for good.
func (pp *packetPeers) peer(addr net.Addr) *Conn {
	key := addr.String()
	if c, ok := pp.m[key]; ok {
		if c.Context().Err() == nil {
			return c
		}
		delete(pp.m, key)
	}
	if len(pp.m) >= maxPacketPeers {
		pp.closeAll(CloseLocal, nil)
	}
	c := newConn(pp.s.Protocol, &engine.PacketPeer{PC: pp.pc, Addr: addr}, pp.s.udpOpts, func(c *Conn) engine.Dispatcher { return (*serverConn)(c) })
	c.srv = pp.s
	pp.s.secPacket(c)
	pp.m[key] = c
	return c
}

func (pp *packetPeers) closeAll(r CloseReason, err error) {
	for _, c := range pp.m {
		c.e.Close(r, err)
	}
	clear(pp.m)
}
