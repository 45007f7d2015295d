package attack

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// retryPause spaces out dials after a failed one, so that a refusing server
// is not spun against.
const retryPause = 10 * time.Millisecond

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// deadline is now+d, or ctx's deadline if sooner.
func deadline(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if cd, ok := ctx.Deadline(); ok && cd.Before(t) {
		return cd
	}
	return t
}

// watch reads and discards what nc receives; the returned channel closes
// when the connection ends (the server closed it, or closeAll did).
func (e *env) watch(nc net.Conn) <-chan struct{} {
	done := make(chan struct{})
	e.wg.Go(func() {
		_, _ = io.Copy(io.Discard, nc)
		close(done)
	})
	return done
}

// each runs f on e.conns goroutines and waits for them.
func (e *env) each(ctx context.Context, f func(ctx context.Context)) {
	for range e.conns {
		e.wg.Go(func() { f(ctx) })
	}
	<-ctx.Done()
}

// eachConn runs e.conns workers, each connecting (again after a failure,
// after retryPause), running attack on the connection until it returns,
// and releasing it, until ctx ends.
func (e *env) eachConn(ctx context.Context, attack func(ctx context.Context, nc net.Conn)) {
	e.each(ctx, func(ctx context.Context) {
		for ctx.Err() == nil {
			nc, err := e.connect(ctx)
			if err != nil {
				sleep(ctx, retryPause)
				continue
			}
			attack(ctx, nc)
			e.release(nc, ctx.Err() == nil)
		}
	})
}

// tokenBruteforce: Workers goroutines open connection after connection,
// each sending one random (wrong) token and waiting for the verdict.
func tokenBruteforce(ctx context.Context, e *env) error {
	ok, err := e.proto.AppendFrame(nil, binproto.Msg(e.cfg.TokenTypes.OK, nil))
	if err != nil {
		return err
	}
	for range e.cfg.Workers {
		e.wg.Go(func() {
			tok := make([]byte, 24)
			buf := make([]byte, 256)
			for ctx.Err() == nil {
				nc, err := e.connectRaw(ctx)
				if err != nil {
					sleep(ctx, retryPause)
					continue
				}
				rand.Read(tok)
				frame, err := e.tokenFrame(tok)
				if err != nil {
					e.release(nc, false)
					return
				}
				nc.SetDeadline(deadline(ctx, 5*time.Second))
				if _, err := nc.Write(frame); err != nil {
					e.release(nc, ctx.Err() == nil)
					continue
				}
				e.c.attempts.Add(1)
				e.c.bytes.Add(uint64(len(frame)))
				n, err := io.ReadAtLeast(nc, buf, len(ok))
				if n >= len(ok) && string(buf[:len(ok)]) == string(ok) {
					e.c.successes.Add(1) // a wrong token accepted
				}
				e.release(nc, err != nil && ctx.Err() == nil)
			}
		})
	}
	<-ctx.Done()
	return nil
}

// connFlood: Workers goroutines open connections as fast as they can and
// hold each idle (reading, never writing) until the server closes it or
// the attack ends, keeping at most e.conns open.
func connFlood(ctx context.Context, e *env) error {
	slots := make(chan struct{}, e.conns)
	for range e.cfg.Workers {
		e.wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case slots <- struct{}{}:
				}
				nc, err := e.connect(ctx)
				if err != nil {
					<-slots
					sleep(ctx, retryPause)
					continue
				}
				e.c.attempts.Add(1)
				done := e.watch(nc)
				e.wg.Go(func() {
					<-done
					e.release(nc, ctx.Err() == nil)
					<-slots
				})
			}
		})
	}
	<-ctx.Done()
	return nil
}

// slowloris: each connection sends SENSOR_DATA requests one byte a second,
// reconnecting when the server closes it.
func slowloris(ctx context.Context, e *env) error {
	frame, err := e.sensorFrame()
	if err != nil {
		return err
	}
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		done := e.watch(nc)
	frames:
		for ctx.Err() == nil {
			for i := range frame {
				if _, err := nc.Write(frame[i : i+1]); err != nil {
					break frames
				}
				e.c.attempts.Add(1)
				e.c.bytes.Add(1)
				select {
				case <-ctx.Done():
					return
				case <-done:
					break frames
				case <-time.After(time.Second):
				}
			}
		}
	})
	return nil
}

// bigFrames: each connection declares a FrameSize frame (a BENCHMARK echo
// request) and sends it at 40 KiB/s: 4 KiB every 100 ms.
func bigFrames(ctx context.Context, e *env) error {
	frame, err := e.blobFrame()
	if err != nil {
		return err
	}
	const chunk, period = 4 << 10, 100 * time.Millisecond
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		done := e.watch(nc) // discards the echo of a frame that completes
		nc.SetWriteDeadline(deadline(ctx, time.Hour))
		tick := time.NewTicker(period)
	frames:
		for ctx.Err() == nil {
			e.c.attempts.Add(1)
			for off := 0; off < len(frame); off += chunk {
				n, err := nc.Write(frame[off:min(off+chunk, len(frame))])
				e.c.bytes.Add(uint64(n))
				if err != nil {
					break frames
				}
				select {
				case <-ctx.Done():
					break frames
				case <-done:
					break frames
				case <-tick.C:
				}
			}
		}
		tick.Stop()
	})
	return nil
}

// slowReaders: each connection, with a small receive buffer, pipelines
// FrameSize echo requests as fast as the server takes them and never reads
// a reply.
func slowReaders(ctx context.Context, e *env) error {
	frame, err := e.blobFrame()
	if err != nil {
		return err
	}
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		nc.SetWriteDeadline(deadline(ctx, time.Hour))
		for ctx.Err() == nil {
			n, err := nc.Write(frame)
			e.c.bytes.Add(uint64(n))
			if err != nil {
				break
			}
			e.c.attempts.Add(1)
		}
	})
	return nil
}

// notFoundKeepalive: each connection sends a bare not-found header (ff ff)
// every 2 s, which reaches no handler and so must not keep it from idling
// out.
func notFoundKeepalive(ctx context.Context, e *env) error {
	ff := []byte{0xff, 0xff}
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		done := e.watch(nc)
	keep:
		for {
			if _, err := nc.Write(ff); err != nil {
				break
			}
			e.c.attempts.Add(1)
			e.c.bytes.Add(2)
			select {
			case <-ctx.Done():
				return
			case <-done:
				break keep
			case <-time.After(2 * time.Second):
			}
		}
	})
	return nil
}

// garbage: each connection sends random bytes as fast as it can,
// reconnecting when the server closes it.
func garbage(ctx context.Context, e *env) error {
	noise := make([]byte, 64<<10)
	rand.Read(noise)
	const chunk = 4 << 10
	var off atomic.Int64
	e.flood(ctx, func() []byte {
		o := int(off.Add(977)) % (len(noise) - chunk) // a different slice each write
		return noise[o : o+chunk]
	}, 1)
	return nil
}

// udpFlood: one socket sends SENSOR_DATA requests to the UDP server as
// fast as it can; a reader counts the replies.
func udpFlood(ctx context.Context, e *env) error {
	frame, err := e.sensorFrame()
	if err != nil {
		return err
	}
	e.c.dials.Add(1)
	nc, err := e.dial.DialContext(ctx, "udp", e.cfg.UDPAddr)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.open[nc] = struct{}{}
	e.mu.Unlock()
	e.c.opened()
	e.wg.Go(func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := nc.Read(buf); err != nil {
				if ne, ok := err.(net.Error); ok && !ne.Timeout() && ctx.Err() == nil {
					continue // ICMP port unreachable and the like
				}
				return
			}
			e.c.successes.Add(1)
		}
	})
	for ctx.Err() == nil {
		if _, err := nc.Write(frame); err != nil {
			continue // the kernel's buffer is full or the port refused: keep going
		}
		e.c.attempts.Add(1)
		e.c.bytes.Add(uint64(len(frame)))
	}
	return nil
}

// sensorFrame is a SENSOR_DATA request.
func (e *env) sensorFrame() ([]byte, error) {
	in := quickstart.Sensor{Sensor1: 1, Sensor2: 2, Sensor3: 3, Sensor4: 4}
	return e.proto.AppendFrame(nil, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in))
}

// blobFrame is a BENCHMARK echo request whose payload is FrameSize bytes.
func (e *env) blobFrame() ([]byte, error) {
	empty, err := quickstart.BlobCodec.AppendPayload(nil, &quickstart.Blob{})
	if err != nil {
		return nil, err
	}
	data := make([]byte, max(e.cfg.FrameSize-len(empty), 0))
	return e.proto.AppendFrame(nil, binproto.Typed(quickstart.Benchmark, quickstart.BlobCodec, &quickstart.Blob{Data: data}))
}
