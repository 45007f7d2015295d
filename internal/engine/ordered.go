package engine

import (
	"context"
	"sync"
)

// ordered runs up to limit handlers of one connection at once (Conn.Go)
// and writes their replies in the order the frames arrived.
type ordered struct {
	wg   sync.WaitGroup
	sem  chan struct{} // one token per running handler; made by the first Go
	next uint64        // sequence of the next job; owned by the read goroutine

	mu    sync.Mutex
	head  uint64   // sequence of the next reply to write
	slots []result // ring indexed by sequence % limit
}

type result struct {
	ready bool
	reply *[]byte // the encoded reply, nil for none
	held  int64   // bytes of the budget held for the reply (Conn.Hold)
	err   error
}

func (o *ordered) wait() { o.wg.Wait() }

// Job is a handler run by Go: it returns its encoded reply (nil for none)
// or an error, which closes the connection (a *CloseError names why).
type Job func() (reply *[]byte, err error)

// Go runs job on a goroutine of its own once fewer than limit jobs of this
// connection are running, waiting for one to end if need be, and writes the
// replies in the order of the calls to Go. Replies are handed back through
// Options.Release once written. It returns an error only when the
// connection closed while it waited. Called by the read goroutine.
func (c *Conn) Go(limit int, job Job) error {
	o := &c.ordered
	if o.sem == nil {
		o.sem = make(chan struct{}, limit)
		o.slots = make([]result, limit)
	}
	select {
	case o.sem <- struct{}{}:
	case <-c.ctx.Done():
		return &CloseError{Reason: ReasonLocal, Err: closeCause(c)}
	}
	seq := o.next
	o.next++
	c.inFlight.Add(1) // until its reply is handed to the writer
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		reply, err := job()
		var held int64
		if err == nil && reply != nil {
			held = c.Hold(len(*reply))
		}
		c.complete(seq, result{ready: true, reply: reply, held: held, err: err})
		c.dl.active() // the idle timeout runs from the request's completion
	}()
	return nil
}

// complete records the result of job seq and writes every reply that is
// now next in order.
func (c *Conn) complete(seq uint64, r result) {
	o := &c.ordered
	o.mu.Lock()
	defer o.mu.Unlock()
	n := uint64(len(o.slots))
	o.slots[seq%n] = r
	for {
		slot := &o.slots[o.head%n]
		if !slot.ready {
			return
		}
		res := *slot
		*slot = result{}
		o.head++
		<-o.sem
		switch {
		case res.err != nil:
			reason := ReasonHandlerError
			if ce, ok := res.err.(*CloseError); ok {
				reason = ce.Reason
			}
			c.Close(reason, res.err)
		case res.reply != nil:
			if err := c.w.Write(c.ctx, *res.reply); err == nil {
				c.opts.Counters.Sent(len(*res.reply))
			}
		}
		c.Unhold(res.held)
		if res.reply != nil && c.opts.Release != nil {
			c.opts.Release(res.reply)
		}
		c.inFlight.Add(-1)
	}
}

// closeCause returns the error the connection closed with.
func closeCause(c *Conn) error { return context.Cause(c.ctx) }
