// Package wirecount counts the bytes on the connections a benchmark client
// dials: what its WireBytes reports, framing and headers included, for the
// targets whose client libraries do not count them (HTTP/JSON, gRPC).
package wirecount

import (
	"context"
	"net"
	"sync/atomic"
)

// Dialer dials connections with its net.Dialer and adds every byte read or
// written on them to one count. The zero value dials with net.Dialer's
// defaults. A Dialer must not be copied after first use.
type Dialer struct {
	net.Dialer
	n atomic.Uint64
}

// DialContext dials like net.Dialer.DialContext and returns a connection
// whose reads and writes are counted.
func (d *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := d.Dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, n: &d.n}, nil
}

// Bytes returns the bytes read and written on every connection dialed so
// far.
func (d *Dialer) Bytes() uint64 { return d.n.Load() }

// conn adds every byte read or written to n.
type conn struct {
	net.Conn
	n *atomic.Uint64
}

// Read counts the bytes read.
func (c *conn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(uint64(k))
	return k, err
}

// Write counts the bytes written.
func (c *conn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.Add(uint64(k))
	return k, err
}
