package engine

import (
	"context"
	"errors"
	"time"
)

// ErrKeepalive is the error of a connection closed because its peer sent
// nothing for two keepalive intervals, pings unanswered.
var ErrKeepalive = errors.New("binproto: peer unresponsive: no frame for two keepalive intervals")

// Keepalive checks the connection every interval: when nothing was read
// during the last interval it calls ping (which sends a ping frame, to be
// answered), and when nothing was read for two intervals it closes the
// connection with ReasonKeepalive. A dead or vanished peer is thus noticed
// within two intervals. The connection must be read all the time (Run or
// StartReading), or the answers are not seen. It stops when the connection
// closes.
func (c *Conn) Keepalive(interval time.Duration, ping func()) {
	if interval <= 0 {
		return
	}
	var last uint64
	missed := 0
	var t *time.Timer
	t = time.AfterFunc(time.Hour, func() {
		if c.ctx.Err() != nil {
			return
		}
		if n := c.reads.Load(); n != last {
			last, missed = n, 0
		} else {
			missed++
		}
		switch {
		case missed >= 2:
			c.Close(ReasonKeepalive, ErrKeepalive)
			return
		case missed == 1:
			ping()
		}
		t.Reset(interval)
	})
	t.Reset(interval) // armed once t is set: the function reads it
	context.AfterFunc(c.ctx, func() { t.Stop() })
}
