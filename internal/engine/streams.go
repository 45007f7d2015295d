package engine

import (
	"errors"
	"time"
)

// Task is a handler run by Spawn: it returns its encoded reply (nil for
// none) or an error, which closes the connection. A pointer implementing it
// is passed without allocating, where a closure would be.
type Task interface {
	Run() (reply *[]byte, err error)
}

// workerIdle is how long a worker of Spawn waits for another task before
// it ends.
const workerIdle = 2 * time.Second

// Spawn runs task on a goroutine of its own, unless limit tasks started by
// Spawn are running on this connection already: it then runs nothing and
// reports false (the native profile answers such a request with an error
// frame). The reply is written as soon as it is ready, in no order with the
// others (the native profile's replies carry their request's id), and
// handed back through Options.Release. A task's error closes the
// connection (a *CloseError names why). Tasks count as requests in flight,
// and a graceful finish waits for them as for those of Go.
//
// The goroutines are workers that stay for workerIdle after their task, to
// take the next one: a stream of requests starts no goroutine per request.
// Called by the reader.
func (c *Conn) Spawn(limit int, task Task) bool {
	if int(c.streams.Load()) >= limit {
		return false
	}
	c.streams.Add(1)
	c.inFlight.Add(1)
	c.ordered.wg.Add(1)
	if c.tasks == nil {
		c.tasks = make(chan Task)
	}
	select {
	case c.tasks <- task: // an idle worker takes it
	default:
		go c.work(task)
	}
	return true
}

// inlineWatch is how long a task of RunTask may run on the reader before
// another goroutine takes over the reading.
const inlineWatch = 500 * time.Microsecond

// errHandedOff ends the read loop of a goroutine that another took the
// reading over from (RunTask).
var errHandedOff = errors.New("binproto: reading handed over")

// RunTask runs task on the reader, as Spawn would on a goroutine of its
// own: for a request that finds its connection idle (no task running,
// nothing more buffered) and whose handler is usually quick, the hand-off
// to another goroutine would cost more than the handler. If the task runs
// longer than inlineWatch, another goroutine takes over the reading, so
// that frames behind it wait that long at most and a handler waiting for a
// later frame of its own connection cannot block it; the task's goroutine
// then stops reading once the task is done. Called by the reader, from
// Dispatch, which must return at once after it.
func (c *Conn) RunTask(task Task) {
	c.streams.Add(1)
	c.inFlight.Add(1)
	c.ordered.wg.Add(1)
	if c.inlineN++; c.inlineN == 0 {
		c.inlineN = 1 // 0 means no task
	}
	idle := c.inline.Load() // the reader's generation, no task: only the reader changes it now
	running := idle | uint64(c.inlineN)
	c.inline.Store(running)
	if c.watchdog == nil {
		c.watchdog = time.AfterFunc(inlineWatch, c.takeOver)
	} else {
		c.watchdog.Reset(inlineWatch)
	}
	c.runTask(task)
	// If this fails, takeOver bumped the generation in the same word: the
	// read loop, back from Dispatch, sees it and stops; the new reader owns
	// the watchdog.
	if c.inline.CompareAndSwap(running, idle) {
		c.watchdog.Stop()
	}
}

// takeOver hands the reading over to a new goroutine when a task of
// RunTask still runs on the reader.
func (c *Conn) takeOver() {
	cur := c.inline.Load()
	if cur&0xffffffff == 0 || !c.inline.CompareAndSwap(cur, (cur>>32+1)<<32) {
		return // no task on the reader, or it has just ended
	}
	go func() {
		if c.charged > 0 {
			c.settleRead() // the frame of the task is done with
		}
		err := c.readFrames()
		if err == errHandedOff {
			return
		}
		c.finish(err)
	}()
}

// Buffered returns the bytes read from the stream and not yet returned as
// frames. Called by the reader.
func (c *Conn) Buffered() int { return c.rd.Buffered() }

// work runs task, then the tasks Spawn hands it, until none comes for
// workerIdle or the connection ends.
func (c *Conn) work(task Task) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		c.runTask(task)
		idle.Reset(workerIdle)
		select {
		case task = <-c.tasks:
		case <-idle.C:
			return
		case <-c.ctx.Done():
			return
		}
	}
}

// runTask runs a task of Spawn and writes its reply.
func (c *Conn) runTask(task Task) {
	defer c.ordered.wg.Done()
	reply, err := task.Run()
	switch {
	case err != nil:
		reason := ReasonHandlerError
		if ce, ok := err.(*CloseError); ok {
			reason = ce.Reason
		}
		c.Close(reason, err)
	case reply != nil:
		held := c.Hold(len(*reply))
		// While other tasks run, the reply is queued and flushed in the
		// background, with the replies they are about to queue: few writes
		// for many replies. The last one running writes at once.
		write := c.w.Write
		if c.streams.Load() > 1 && !c.opts.NoFastPath && len(*reply) <= max(c.opts.Allowance, 4096) {
			write = c.w.Send
		}
		if werr := write(c.ctx, *reply); werr == nil {
			c.opts.Counters.Sent(len(*reply))
		}
		c.Unhold(held)
	}
	if reply != nil && c.opts.Release != nil {
		c.opts.Release(reply)
	}
	c.streams.Add(-1)
	c.inFlight.Add(-1)
	c.dl.active() // the idle timeout runs from the request's completion
}

// Streams returns the number of tasks started by Spawn still running.
func (c *Conn) Streams() int { return int(c.streams.Load()) }
