package engine

import (
	"errors"
	"net"
	"net/netip"
	"sync"
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

// PacketOptions say how Group.ServePacket reads a packet socket.
type PacketOptions struct {
	// Readers is the number of goroutines reading the socket at once; at
	// least one. The datagrams of one source may be read by different
	// readers, so Handle serialises what it must.
	Readers int
	// Admit, when set, is asked about each datagram from an IP source
	// right after it is read, before anything is decoded or allocated; a
	// datagram it refuses is dropped. It is called concurrently by the
	// readers and must be cheap: under a flood it runs once per datagram.
	Admit func(from netip.AddrPort) bool
	// Handle handles one admitted datagram b (valid until Handle returns)
	// from the source from (the zero AddrPort for a source that is not IP)
	// or addr. addr is nil when the socket reported the source as an
	// AddrPort only (see SourceAddr). Called concurrently by the readers.
	Handle func(b []byte, from netip.AddrPort, addr net.Addr)
}

// SourceAddr returns the source of a datagram handed to
// PacketOptions.Handle as a net.Addr, allocating it if the socket did not.
func SourceAddr(from netip.AddrPort, addr net.Addr) net.Addr {
	if addr != nil {
		return addr
	}
	return net.UDPAddrFromAddrPort(from)
}

// ServePacket reads datagrams from pc with o.Readers goroutines until the
// group closes (it then returns ErrClosed) or reading fails (it then
// returns the first error), and hands each to o.Handle. pc is closed when
// ServePacket returns, once every reader has ended.
func (g *Group) ServePacket(pc net.PacketConn, o PacketOptions) error {
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
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	// The first reader to stop closes the socket, which stops the others.
	stop := func(err error) {
		once.Do(func() {
			first = err
			pc.Close()
		})
	}
	for range max(o.Readers, 1) - 1 {
		wg.Go(func() { stop(g.readPackets(pc, &o)) })
	}
	stop(g.readPackets(pc, &o))
	wg.Wait()
	return first
}

// addrPortReader is a packet socket that reports sources without
// allocating, as *net.UDPConn does.
type addrPortReader interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
}

// readPackets is one reader of ServePacket.
func (g *Group) readPackets(pc net.PacketConn, o *PacketOptions) error {
	buf := make([]byte, MaxDatagram)
	ar, _ := pc.(addrPortReader)
	for {
		var (
			n    int
			from netip.AddrPort
			addr net.Addr
			err  error
		)
		if ar != nil {
			n, from, err = ar.ReadFromUDPAddrPort(buf)
		} else if n, addr, err = pc.ReadFrom(buf); err == nil {
			if ua, ok := addr.(*net.UDPAddr); ok {
				from = ua.AddrPort()
			}
		}
		if err != nil {
			if g.closing.Load() {
				return ErrClosed
			}
			if isTransientUDP(err) {
				continue
			}
			return err
		}
		if o.Admit != nil && from.IsValid() && !o.Admit(from) {
			continue
		}
		o.Handle(buf[:n], from, addr)
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

// Go runs f on a goroutine of its own, counted by wg (which the caller
// waits on): the packet server's way to hand a busy peer's queued
// datagrams to another goroutine, so that every goroutine of binproto
// starts in this package.
func Go(wg *sync.WaitGroup, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		f()
	}()
}
