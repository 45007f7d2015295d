package binproto

import (
	"sync"

	"github.com/binproto/binproto/wire"
)

// inflight runs up to n handlers of one connection at once and writes their
// replies in request order.
type inflight struct {
	sem  chan struct{} // one token per running handler
	wg   sync.WaitGroup
	next uint64 // sequence of the next request; owned by the read loop

	mu    sync.Mutex
	head  uint64   // sequence of the next reply to write
	slots []result // ring indexed by sequence % n
}

type result struct {
	ready  bool
	buf    *[]byte // the encoded reply, nil for none
	reason CloseReason
	err    error
}

// handleConcurrent copies the frame and runs h on its own goroutine, waiting
// while n handlers of this connection are already running.
func (c *Conn) handleConcurrent(h Handler, fr wire.Frame, n int) (CloseReason, error) {
	if c.inflight == nil {
		c.inflight = &inflight{sem: make(chan struct{}, n), slots: make([]result, n)}
	}
	in := c.inflight
	select {
	case in.sem <- struct{}{}:
	case <-c.ctx.Done():
		return CloseLocal, c.ctx.Err()
	}
	seq := in.next
	in.next++
	c.handlers.Add(1) // until its reply is handed to the writer (complete)
	payload := getBuffer(c.proto)
	*payload = append((*payload)[:0], fr.Payload...)
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		reply := getBuffer(c.proto)
		m := &Message{Type: MessageType(fr.Type), Payload: *payload, Conn: c, proto: c.proto, replyBuf: reply}
		out, reason, err := c.serve(c.ctx, h, m)
		r := result{ready: true, reason: reason, err: err}
		if err == nil && out.ok {
			// Encoded before the payload is recycled: out may refer to it,
			// as it may on the sequential path.
			if err := c.proto.appendReply(reply, out); err != nil {
				c.log.Warn("binproto: reply not encodable", "type", out.Type, "err", err)
				c.stats.add(&c.stats.handlerErrors, 1)
				r.reason, r.err = CloseHandlerError, err
			} else {
				r.buf = reply
				if out.Type == c.proto.cfg.NotFoundType {
					c.stats.add(&c.stats.notFound, 1)
				}
			}
		}
		putBuffer(c.proto, payload)
		if r.buf == nil {
			putBuffer(c.proto, reply)
		}
		c.complete(seq, r)
	}()
	return "", nil
}

// complete records the result of request seq and writes every reply that is
// now next in order; then, if no request is left in flight, it lets the
// read loop's idle deadline be armed (rearmIdle).
func (c *Conn) complete(seq uint64, r result) {
	c.writeReady(seq, r)
	c.rearmIdle()
}

func (c *Conn) writeReady(seq uint64, r result) {
	in := c.inflight
	in.mu.Lock()
	defer in.mu.Unlock()
	in.slots[seq%uint64(len(in.slots))] = r
	for {
		slot := &in.slots[in.head%uint64(len(in.slots))]
		if !slot.ready {
			return
		}
		res := *slot
		*slot = result{}
		in.head++
		<-in.sem
		if res.err != nil {
			c.closeWith(res.reason, res.err)
		} else if res.buf != nil {
			if err := c.w.Write(c.ctx, *res.buf); err == nil {
				c.stats.sent(len(*res.buf))
			}
			putBuffer(c.proto, res.buf)
		}
		c.handlers.Add(-1)
	}
}

// waitHandlers waits for the connection's concurrent handlers to return.
func (c *Conn) waitHandlers() {
	if c.inflight != nil {
		c.inflight.wg.Wait()
	}
}
