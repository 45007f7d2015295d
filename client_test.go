package binproto_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
)

// rawServer accepts one connection on a loopback listener and runs serve
// on it; the returned channel gives serve's error.
func rawServer(t *testing.T, serve func(nc net.Conn) error) (addr string, done <-chan error) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		nc, err := l.Accept()
		l.Close()
		if err != nil {
			errc <- err
			return
		}
		defer nc.Close()
		nc.SetDeadline(time.Now().Add(20 * time.Second)) // a hang guard
		errc <- serve(nc)
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), errc
}

// TestClientUnknownType: a server that sends a message of a type the
// client's Config.Types does not have. Nothing says how long its payload
// is, so the client cannot skip it: it closes the connection, and the
// pending request fails at once with ErrConnClosed wrapping
// ErrUnknownType (it does not hang until its context ends); so do later
// requests ("binproto: connection closed: binproto: unknown message type
// 66"), and the close is counted as CloseUnknownType. Checked with the direct-mode client (the caller reads its own
// reply) and with the background reader (push handlers set).
func TestClientUnknownType(t *testing.T) {
	const unknown = 0x42
	for _, background := range []bool{false, true} {
		t.Run(map[bool]string{false: "direct", true: "background"}[background], func(t *testing.T) {
			checkGoroutines(t)
			p := quickProto(t, nil)
			if p.Structure(unknown) != nil {
				t.Fatalf("type %#x is configured", unknown)
			}
			req, _ := p.AppendFrame(nil, statusMsg(1, "first"))
			addr, srvDone := rawServer(t, func(nc net.Conn) error {
				if _, err := io.ReadFull(nc, make([]byte, len(req))); err != nil {
					return err
				}
				// The header (">H") of the unconfigured type, then bytes
				// the client cannot frame.
				if _, err := nc.Write([]byte{0, unknown, 0, 0, 0, 4, 1, 2, 3, 4}); err != nil {
					return err
				}
				// The client closes the connection: EOF, and nothing sent.
				n, err := nc.Read(make([]byte, 1))
				if n != 0 || !errors.Is(err, io.EOF) {
					return errors.New("the client did not close the connection")
				}
				return nil
			})
			var opts *binproto.ClientOptions
			if background {
				opts = &binproto.ClientOptions{Handlers: map[binproto.MessageType]binproto.Handler{
					SensorData: binproto.HandlerFunc(func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
						return binproto.NoReply, nil
					}),
				}}
			}
			cl := dial(t, p, addr, opts)
			_, err := cl.Request(testCtx(t, 20*time.Second), statusMsg(1, "first"))
			if !errors.Is(err, binproto.ErrConnClosed) || !errors.Is(err, binproto.ErrUnknownType) {
				t.Fatalf("request answered with an unknown type: %v, want ErrConnClosed wrapping ErrUnknownType", err)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the request waited for its context: %v", err)
			}
			select {
			case <-cl.Conn().Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the connection is not closed")
			}
			if _, err := cl.Request(testCtx(t, 5*time.Second), statusMsg(2, "second")); !errors.Is(err, binproto.ErrConnClosed) {
				t.Errorf("request after the connection closed: %v, want ErrConnClosed", err)
			}
			if err := <-srvDone; err != nil {
				t.Errorf("raw server: %v", err)
			}
			if s := cl.Stats(); s.MessagesIn != 0 || s.Closes[binproto.CloseUnknownType] != 1 {
				t.Errorf("client Stats.MessagesIn = %d, Closes = %v; want 0 and one %v", s.MessagesIn, s.Closes, binproto.CloseUnknownType)
			}
		})
	}
}
