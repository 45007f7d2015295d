package binproto

import (
	"errors"
	"net"
	"time"

	"github.com/binproto/binproto/wire"
)

// maxDatagram is the largest datagram read.
const maxDatagram = 64 << 10

// datagramLoop is the read loop of a connected UDP client: one frame per
// datagram; malformed datagrams are dropped and counted.
func (c *Conn) datagramLoop() {
	buf := make([]byte, maxDatagram)
	var err error
	for {
		var n int
		n, err = c.nc.Read(buf)
		if err != nil {
			if isTransientUDP(err) {
				continue
			}
			break
		}
		fr, perr := c.proto.framing.ParseExact(buf[:n])
		if perr != nil {
			c.stats.datagramsDropped.Add(1)
			c.log.Debug("binproto: datagram dropped", "err", perr)
			continue
		}
		c.stats.received(fr.Len)
		if reason, derr := c.peer.dispatch(c, fr); derr != nil {
			c.closeWith(reason, derr)
			err = derr
			break
		}
	}
	c.closeWith(c.classify(err), err)
	c.peer.closed(c, err)
	close(c.done)
}

// isTransientUDP reports errors a UDP socket survives, such as an ICMP port
// unreachable reported on a connected socket.
func isTransientUDP(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout() && !errors.Is(err, net.ErrClosed) && oe.Op == "read" && isConnRefused(oe.Err)
}

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
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		pc.Close()
		return ErrServerClosed
	}
	s.packets[pc] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.packets, pc)
		s.mu.Unlock()
		pc.Close()
		s.wg.Done()
	}()
	peers := make(map[string]*Conn)
	defer func() {
		// Handlers' contexts end with the packet server (or its peer's
		// entry), as they do with a TCP connection.
		for _, c := range peers {
			c.closeWith(CloseShutdown, ErrServerClosed)
		}
	}()
	buf := make([]byte, maxDatagram)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			if isTransientUDP(err) {
				continue
			}
			return err
		}
		fr, perr := s.Protocol.framing.ParseExact(buf[:n])
		if perr != nil {
			s.stats.datagramsDropped.Add(1)
			s.logger().Debug("binproto: datagram dropped", "from", addr, "err", perr)
			var unknown *wire.UnknownTypeError
			if errors.As(perr, &unknown) && s.allowPacket(s.packetPeer(peers, pc, addr), n) {
				// A datagram delimits its frame, so unlike TCP the
				// connection survives: answer NOT_FOUND as Python does,
				// within the rate limits (security.go). The header alone
				// is never larger than the request.
				nf := s.Protocol.framing.AppendNotFound(buf[:0])
				if _, err := pc.WriteTo(nf, addr); err == nil {
					s.stats.notFound.Add(1)
					s.stats.sent(len(nf))
				}
			}
			continue
		}
		c := s.packetPeer(peers, pc, addr)
		s.stats.received(fr.Len)
		if MessageType(fr.Type) == s.Protocol.cfg.NotFoundType {
			continue
		}
		h, _ := s.handlers.lookup(MessageType(fr.Type))
		if h == nil {
			h = NotFoundHandler
		}
		// Rate limits, validators, no amplification (security.go).
		if h = s.screenPacket(c, fr, n, h); h == nil {
			continue
		}
		if _, err := c.handleSafe(h, fr); err != nil {
			s.logger().Info("binproto: datagram not answered", "from", addr, "err", err)
		}
	}
}

// maxPacketPeers bounds the per-address Conns a packet server keeps.
const maxPacketPeers = 1024

// packetPeer returns the Conn that replies and pushes to addr. A Conn that
// has closed (its writer failed, say) is replaced by a fresh one, so that
// one failed write does not silence a peer for good.
func (s *Server) packetPeer(peers map[string]*Conn, pc net.PacketConn, addr net.Addr) *Conn {
	key := addr.String()
	if c, ok := peers[key]; ok {
		if c.Context().Err() == nil {
			return c
		}
		delete(peers, key)
	}
	if len(peers) >= maxPacketPeers {
		for _, old := range peers {
			old.closeWith(CloseLocal, nil)
		}
		clear(peers)
	}
	c := newConn(s.Protocol, &packetConn{pc: pc, addr: addr}, s, s.logger(), &s.stats)
	peers[key] = c
	return c
}

// packetConn is the net.Conn face of one UDP peer of a packet server: a
// Write sends one datagram to the peer. It is never read.
type packetConn struct {
	pc   net.PacketConn
	addr net.Addr
}

func (p *packetConn) Read([]byte) (int, error) {
	return 0, errors.New("binproto: packet peer is not readable")
}
func (p *packetConn) Write(b []byte) (int, error)      { return p.pc.WriteTo(b, p.addr) }
func (p *packetConn) Close() error                     { return nil }
func (p *packetConn) LocalAddr() net.Addr              { return p.pc.LocalAddr() }
func (p *packetConn) RemoteAddr() net.Addr             { return p.addr }
func (p *packetConn) SetDeadline(time.Time) error      { return nil }
func (p *packetConn) SetReadDeadline(time.Time) error  { return nil }
func (p *packetConn) SetWriteDeadline(time.Time) error { return nil }
