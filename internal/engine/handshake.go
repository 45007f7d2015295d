package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"time"
)

// maxHandshake bounds the bytes Handshake reads.
const maxHandshake = 128 << 10

// Handshake writes hello on nc and reads the peer's answer, before nc has
// an engine: parse is given the bytes read so far until it reports ok (it
// took n bytes) or an error. The bytes read past the answer are returned,
// for Conn.Prime. ctx bounds it all (its deadline is set on nc, and its
// cancellation interrupts it). A peer that closes first is io.EOF wrapped
// in parse's verdict on what it sent (parse is called once more).
func Handshake(ctx context.Context, nc net.Conn, hello []byte, parse func(b []byte, eof bool) (n int, ok bool, err error)) (rest []byte, err error) {
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		if !stop() {
			err = errors.Join(ctx.Err(), err) // the deadline was cut short
		}
		nc.SetDeadline(time.Time{})
	}()
	if _, err := nc.Write(hello); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= maxHandshake {
				return nil, errors.New("binproto: handshake answer too long")
			}
			buf = append(buf, make([]byte, cap(buf))...)[:len(buf)]
		}
		m, rerr := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		n, ok, perr := parse(buf, rerr == io.EOF)
		switch {
		case perr != nil:
			return nil, perr
		case ok:
			return append([]byte(nil), buf[n:]...), nil
		case rerr != nil:
			return nil, rerr
		}
	}
}
