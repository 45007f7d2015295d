package attack

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
	"github.com/binproto/binproto/quickstart"
	"github.com/binproto/binproto/wire"
)

// answerTimeout bounds the wait for the answers to a round of requests.
const answerTimeout = 10 * time.Second

// streamFlood: each native connection sends, in one write, a quarter more
// slow-echo requests than the server's MaxConcurrentStreams (at least 16
// more), reads every answer, and starts again. The server must refuse the
// excess with retryable CodeUnavailable errors (counted as successes),
// not run it.
func streamFlood(ctx context.Context, e *env) error {
	payload, err := quickstart.BlobCodec.AppendPayload(nil, &quickstart.Blob{Data: make([]byte, 64)})
	if err != nil {
		return err
	}
	var failed atomic.Pointer[error]
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		limit := int(e.nat.maxStreams.Load())
		burst := limit + max(limit/4, 16)
		r := wire.NewNativeReader(nc, e.nat.n, 4<<10)
		defer r.Release()
		var id uint32
		buf := make([]byte, 0, burst*(len(payload)+16))
		for ctx.Err() == nil {
			buf = buf[:0]
			for range burst {
				id++
				var rerr error
				if buf, rerr = e.request(buf, id, binprototarget.SlowEcho, payload); rerr != nil {
					failed.Store(&rerr)
					return
				}
			}
			nc.SetDeadline(deadline(ctx, answerTimeout))
			n, err := nc.Write(buf)
			e.c.bytes.Add(uint64(n))
			if err != nil {
				return
			}
			e.c.attempts.Add(uint64(burst))
			for range burst {
				fr, err := r.ReadFrame()
				if err != nil {
					return
				}
				if fr.Kind == wire.KindError && wire.Code(fr.Type) == wire.CodeUnavailable && fr.Flags&wire.FlagNotProcessed != 0 {
					e.c.successes.Add(1)
				}
			}
		}
	})
	if p := failed.Load(); p != nil {
		return *p
	}
	return nil
}

// floodBatch is how many frames the native floods write at once.
const floodBatch = 64

// flood: each connection writes chunk() as fast as the server reads it
// until the server closes it (then it reconnects) or the attack ends,
// counting one attempt per unit bytes written.
func (e *env) flood(ctx context.Context, chunk func() []byte, unit int) {
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		done := e.watch(nc)
		nc.SetWriteDeadline(deadline(ctx, time.Hour))
		for ctx.Err() == nil {
			n, err := nc.Write(chunk())
			e.c.attempts.Add(uint64(n / unit))
			e.c.bytes.Add(uint64(n))
			if err != nil {
				return
			}
			select {
			case <-done:
				return
			default:
			}
		}
	})
}

// floodFrames floods each native connection with copies of frame, batch at
// a time.
func (e *env) floodFrames(ctx context.Context, frame []byte, batch int) {
	b := bytes.Repeat(frame, batch)
	e.flood(ctx, func() []byte { return b }, len(frame))
}

// pingFlood: pings as fast as the server reads them. The server answers a
// burst of 64, then 20 a second, and closes a connection pinging faster
// (rate_limit).
func pingFlood(ctx context.Context, e *env) error {
	e.floodFrames(ctx, e.nat.n.AppendPing(nil, [wire.PingSize]byte{1}, false), floodBatch)
	return nil
}

// errorFlood: error frames, which a client may not send (it answers no
// request): each closes its connection (protocol), and the attack
// reconnects.
func errorFlood(ctx context.Context, e *env) error {
	e.floodFrames(ctx, e.nat.n.AppendError(nil, 0, wire.CodeInternal, false, "attack"), 1)
	return nil
}

// goawayFlood: goaways as fast as the server reads them. A client's goaway
// only says it sends no more requests: the server ignores it, and it does
// not keep the connection from idling out.
func goawayFlood(ctx context.Context, e *env) error {
	e.floodFrames(ctx, e.nat.n.AppendGoAway(nil, 0, wire.CodeUnavailable, "attack"), floodBatch)
	return nil
}

// idAbuse: connections in turn (1) send a slow request and the same id
// again while it runs, (2) send a reply, which only a server may, (3)
// cancel 64 ids never used, then make a request, and (4) send a frame of
// an unknown kind. The first two must close the connection (protocol),
// the fourth too (read_error: the frame reader refuses it); the third must
// be harmless: its request answered (a success).
func idAbuse(ctx context.Context, e *env) error {
	payload, err := quickstart.BlobCodec.AppendPayload(nil, &quickstart.Blob{Data: make([]byte, 16)})
	if err != nil {
		return err
	}
	reused, err := e.request(nil, 7, binprototarget.SlowEcho, payload)
	if err != nil {
		return err
	}
	reused = append(reused, reused...)
	reply, err := e.nat.n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindReply, ID: 99, Type: uint64(binprototarget.SlowEcho)}, payload)
	if err != nil {
		return err
	}
	var cancels []byte
	for id := range uint32(floodBatch) {
		cancels = e.nat.n.AppendCancel(cancels, 1000+id)
	}
	if cancels, err = e.request(cancels, 1, binprototarget.SlowEcho, payload); err != nil {
		return err
	}
	// A frame of kind 9, which version 1 does not define: length 6, kind,
	// flags, id 1.
	unknownKind := []byte{0, 0, 0, 6, 9, 0, 0, 0, 0, 1}
	rounds := [...]struct {
		frames []byte
		count  uint64 // abusive frames in frames
		closes bool   // the server must close the connection
	}{{reused, 1, true}, {reply, 1, true}, {cancels, floodBatch, false}, {unknownKind, 1, true}}
	var turn atomic.Uint64
	e.eachConn(ctx, func(ctx context.Context, nc net.Conn) {
		round := rounds[(turn.Add(1)-1)%uint64(len(rounds))]
		nc.SetDeadline(deadline(ctx, answerTimeout))
		n, err := nc.Write(round.frames)
		e.c.bytes.Add(uint64(n))
		if err != nil {
			return
		}
		e.c.attempts.Add(round.count)
		if round.closes {
			_, _ = io.Copy(io.Discard, nc) // until the server closes it
			return
		}
		for {
			fr, err := readNativeFrame(nc, e.nat.n)
			if err != nil {
				return
			}
			if fr.ID == 1 && fr.Kind == wire.KindReply {
				e.c.successes.Add(1)
				return
			}
		}
	})
	return nil
}

// prefaceAbuse: connections in turn (1) send the magic and then the rest of
// a preface one byte a second (the server reads at most 56 + 4096 bytes of
// a preface, and only within ReadTimeout), (2) send a preface with a wrong
// fingerprint, again and again (closed config_mismatch, after the server's
// preface and an error frame), (3) send a preface of version 2 (closed
// malformed). Attempts count the prefaces begun.
func prefaceAbuse(ctx context.Context, e *env) error {
	var wrong [32]byte
	rand.Read(wrong[:])
	mismatch, err := clientPreface(wrong, wire.NativeVersion)
	if err != nil {
		return err
	}
	version2, err := clientPreface(e.nat.proto.Description().Fingerprint(), wire.NativeVersion+1)
	if err != nil {
		return err
	}
	var turn atomic.Uint64
	e.each(ctx, func(ctx context.Context) {
		kind := (turn.Add(1) - 1) % 3
		for ctx.Err() == nil {
			nc, err := e.connectRaw(ctx)
			if err != nil {
				sleep(ctx, retryPause)
				continue
			}
			e.c.attempts.Add(1)
			var byServer bool
			if kind == 0 {
				byServer = e.slowPreface(ctx, nc)
			} else {
				pre := mismatch
				if kind == 2 {
					pre = version2
				}
				byServer = e.sendPreface(ctx, nc, pre)
			}
			e.release(nc, byServer && ctx.Err() == nil)
		}
	})
	return nil
}

// slowPreface sends the client preface on nc, the magic at once and then
// one byte a second, and reports whether the server closed nc first.
func (e *env) slowPreface(ctx context.Context, nc net.Conn) (byServer bool) {
	done := e.watch(nc)
	pre := e.nat.preface
	n, err := nc.Write(pre[:len(wire.Magic)])
	e.c.bytes.Add(uint64(n))
	for i := len(wire.Magic); err == nil; i++ {
		select {
		case <-ctx.Done():
			return false
		case <-done:
			return true
		case <-time.After(time.Second):
		}
		if i == len(pre) {
			continue // all sent: wait for the server to speak or close
		}
		_, err = nc.Write(pre[i : i+1])
		e.c.bytes.Add(1)
	}
	return true
}

// sendPreface sends pre on nc and reads until the server closes nc,
// reporting whether it did.
func (e *env) sendPreface(ctx context.Context, nc net.Conn, pre []byte) (byServer bool) {
	nc.SetDeadline(deadline(ctx, answerTimeout))
	n, err := nc.Write(pre)
	e.c.bytes.Add(uint64(n))
	if err != nil {
		return true
	}
	_, err = io.Copy(io.Discard, nc)
	var ne net.Error
	return err == nil || !(errors.As(err, &ne) && ne.Timeout())
}
