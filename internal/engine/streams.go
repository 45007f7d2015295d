package engine

import "time"

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
