package engine

import (
	"context"
	"errors"
	"net"
	"os"
	"time"
)

// This file holds the client's second read mode, the direct read: a client
// with nothing to read but replies (no push handlers, no Receive, not UDP)
// does not keep a goroutine reading. The caller waiting for a reply reads
// the connection itself, holding the read token, until its reply has come,
// then hands the token on. Sequential requests thus read their own
// replies with no hand-off between goroutines: BenchmarkTransport's
// pingpong1 measured 2x the round trips of a background reader here. The
// price: a connection that dies while no request waits is noticed at the
// next request, and Conn.Done closes only then (or at Close).
//
// The other mode, StartReading, takes the token for good and reads on a
// goroutine of its own (Conn.Run).

// StartReading makes the connection read all the time, on a goroutine of
// its own, from now on (once the current direct reader, if any, is done).
// It is idempotent.
func (c *Conn) StartReading() {
	c.bgOnce.Do(func() {
		c.bg.Store(true)
		go func() {
			c.tok <- struct{}{}
			if !c.Ended() {
				if c.datagram {
					c.runDatagrams()
				} else {
					c.Run()
				}
			}
			<-c.tok
		}()
	})
}

// Background reports whether StartReading was called.
func (c *Conn) Background() bool { return c.bg.Load() }

// Await waits until done is ready (it then returns true) or ctx ends (it
// returns ctx's error), reading and dispatching the connection's frames on
// the calling goroutine whenever nobody else reads it, as long as waiting
// reports true. When reading fails the connection is finished, which must
// make done ready (the dispatcher's Closed fails what waits).
func (c *Conn) Await(ctx context.Context, done <-chan struct{}, waiting func() bool) (bool, error) {
	for {
		if c.bg.Load() {
			select {
			case <-done:
				return true, nil
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
		select {
		case <-done:
			return true, nil
		case <-ctx.Done():
			return false, ctx.Err()
		case c.tok <- struct{}{}:
			err := c.lead(ctx, waiting)
			<-c.tok
			if err != nil {
				return false, err
			}
			if !waiting() {
				<-done
				return true, nil
			}
		}
	}
}

// lead reads and dispatches frames, holding the read token, while waiting
// reports true and ctx lasts. It returns ctx's error when ctx ended: the
// read was cut short by the deadline of ctx (or by its cancellation) and
// the frame being read stays buffered for the next reader.
func (c *Conn) lead(ctx context.Context, waiting func() bool) error {
	if c.Ended() {
		return nil
	}
	if !c.begun {
		c.begun = true
		if err := c.begin(); err != nil {
			c.finish(err)
			return nil
		}
	}
	defer c.dl.callEnd(c.dl.callStart(ctx))
	for waiting() {
		fr, err := c.rd.ReadFrame()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && callOver(ctx) {
				return ctx.Err()
			}
			c.finish(err)
			return nil
		}
		c.dl.frameDone()
		c.opts.Counters.Received(fr.Len)
		if err := c.d.Dispatch(c, fr); err != nil {
			c.finish(err)
			return nil
		}
	}
	return nil
}

// Stop closes the connection with r and err and, unless it reads in the
// background, finishes it (taking the read token from whoever reads, who
// then meets the closed connection and finishes it first).
func (c *Conn) Stop(r Reason, err error) {
	c.Close(r, err)
	if c.bg.Load() {
		return
	}
	c.tok <- struct{}{}
	c.finish(net.ErrClosed)
	<-c.tok
}

// callStart bounds the reads of a direct reader by its caller's context:
// by the context's deadline, set as the read deadline (no timer, no
// allocation), or, for a context cancelled without a deadline, by a
// context.AfterFunc that moves the read deadline to the past, whose stop
// function it returns. callEnd ends the bound.
func (d *deadlines) callStart(ctx context.Context) (stop func() bool) {
	if ctx.Done() == nil {
		return nil
	}
	d.mu.Lock()
	d.gen++
	gen := d.gen
	if at, ok := ctx.Deadline(); ok {
		d.callAt = at
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	return context.AfterFunc(ctx, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen {
			d.callAt = time.Unix(1, 0) // in the past: a blocked read returns at once
			d.setLocked(d.callAt)
		}
	})
}

// callEnd ends the bound callStart set; stop is what callStart returned.
func (d *deadlines) callEnd(stop func() bool) {
	if stop != nil {
		stop()
	}
	d.mu.Lock()
	d.gen++
	d.callAt = time.Time{}
	d.mu.Unlock()
}

// callOver reports whether ctx has ended, waiting for it to end when its
// deadline has passed: the read deadline set to it may expire first.
func callOver(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	if at, ok := ctx.Deadline(); ok && !time.Now().Before(at) {
		<-ctx.Done()
		return true
	}
	return false
}
