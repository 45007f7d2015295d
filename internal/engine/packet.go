package engine

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// MaxDatagram is the largest datagram read.
const MaxDatagram = 64 << 10

// runDatagrams is the read loop of a connected datagram client: one frame
// per datagram; malformed datagrams are dropped and counted.
func (c *Conn) runDatagrams() {
	buf := make([]byte, MaxDatagram)
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
		fr, perr := c.opts.Framing.ParseDatagram(buf[:n])
		if perr != nil {
			c.opts.Counters.DatagramsDropped.Add(1)
			c.opts.Logger.Debug("binproto: datagram dropped", "err", perr)
			continue
		}
		c.opts.Counters.Received(fr.Len)
		if err = c.d.Dispatch(c, fr); err != nil {
			break
		}
	}
	c.finish(err)
}

// isTransientUDP reports errors a UDP socket survives, such as an ICMP port
// unreachable reported on a connected socket.
func isTransientUDP(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout() && !errors.Is(err, net.ErrClosed) && oe.Op == "read" && errors.Is(oe.Err, syscall.ECONNREFUSED)
}

// ServePacket reads datagrams from pc until the group closes (it then
// returns ErrClosed) or reading fails, and hands each to handle with its
// source address; b is valid until handle returns. pc is closed when
// ServePacket returns.
func (g *Group) ServePacket(pc net.PacketConn, handle func(b []byte, from net.Addr)) error {
	g.mu.Lock()
	g.initLocked()
	if g.closing.Load() {
		g.mu.Unlock()
		pc.Close()
		return ErrClosed
	}
	g.packets[pc] = struct{}{}
	g.wg.Add(1)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.packets, pc)
		g.mu.Unlock()
		pc.Close()
		g.wg.Done()
	}()
	buf := make([]byte, MaxDatagram)
	for {
		n, addr, err := pc.ReadFrom(buf)
		if err != nil {
			if g.closing.Load() {
				return ErrClosed
			}
			if isTransientUDP(err) {
				continue
			}
			return err
		}
		handle(buf[:n], addr)
	}
}

// PacketPeer is the net.Conn face of one peer of a packet socket: a Write
// sends one datagram to it. It is never read: a Conn over it is used to
// write replies and pushes, never run.
type PacketPeer struct {
	PC   net.PacketConn
	Addr net.Addr
}

var errPacketPeerRead = errors.New("binproto: packet peer is not readable")

func (p *PacketPeer) Read([]byte) (int, error)         { return 0, errPacketPeerRead }
func (p *PacketPeer) Write(b []byte) (int, error)      { return p.PC.WriteTo(b, p.Addr) }
func (p *PacketPeer) Close() error                     { return nil }
func (p *PacketPeer) LocalAddr() net.Addr              { return p.PC.LocalAddr() }
func (p *PacketPeer) RemoteAddr() net.Addr             { return p.Addr }
func (p *PacketPeer) SetDeadline(time.Time) error      { return nil }
func (p *PacketPeer) SetReadDeadline(time.Time) error  { return nil }
func (p *PacketPeer) SetWriteDeadline(time.Time) error { return nil }
