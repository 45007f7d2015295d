package binproto_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/wire"
)

// rawNative opens a connection to addr that has sent a client's native
// preface for p and read the server's: a hand-driven native client.
func rawNative(t *testing.T, p *binproto.Protocol, addr string) (net.Conn, *wire.Native) {
	t.Helper()
	nc := rawDial(t, addr)
	hello, err := wire.AppendPreface(nil, &wire.Preface{Version: 1, Role: wire.RoleClient, Fingerprint: p.Description().Fingerprint()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.Write(hello); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	for {
		n, err := nc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if _, used, ok, perr := wire.ParsePreface(buf); perr != nil {
			t.Fatal(perr)
		} else if ok {
			if used != len(buf) {
				t.Fatalf("%d bytes after the server's preface", len(buf)-used)
			}
			return nc, p.NativeFraming()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// readNative reads native frames from nc until one satisfies stop, or the
// connection ends (then it returns the frames and the error).
func readNative(nc net.Conn, n *wire.Native, d time.Duration, stop func(wire.Frame) bool) ([]wire.Frame, error) {
	nc.SetReadDeadline(time.Now().Add(d))
	r := wire.NewNativeReader(nc, n, 512)
	var frames []wire.Frame
	for {
		fr, err := r.ReadFrame()
		if err != nil {
			return frames, err
		}
		fr.Payload = bytes.Clone(fr.Payload)
		frames = append(frames, fr)
		if stop(fr) {
			return frames, nil
		}
	}
}

// nativeServer is faultServer with the quick-start protocol, checking the
// file descriptors too.
func nativeServer(t *testing.T, setup func(*binproto.Server)) (*binproto.Protocol, *binproto.Server, string) {
	t.Helper()
	checkFDs(t)
	return faultServer(t, nil, setup)
}

func request(t *testing.T, n *wire.Native, id uint32, typ binproto.MessageType, payload []byte) []byte {
	t.Helper()
	b, err := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, ID: id, Type: uint64(typ)}, payload)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNativeHostile(t *testing.T) {
	fixed := []byte{0, 0, 0, 7} // a FixedBenchmark payload
	cases := []struct {
		name   string
		setup  func(*binproto.Server)
		send   func(t *testing.T, n *wire.Native) []byte
		reason binproto.CloseReason
		want   func(t *testing.T, frames []wire.Frame)
	}{
		{"request id reused in flight", func(s *binproto.Server) {
			s.HandleFunc(Status, func(ctx context.Context, m *binproto.Message) (binproto.Outgoing, error) {
				<-ctx.Done()
				return binproto.NoReply, ctx.Err()
			})
		}, func(t *testing.T, n *wire.Native) []byte {
			st := append([]byte{0, 0, 0, 1, 0, 0, 0, 1}, 'x')
			return append(request(t, n, 5, Status, st), request(t, n, 5, Status, st)...)
		}, binproto.CloseProtocol, func(t *testing.T, frames []wire.Frame) {
			if !hasError(frames, 5, binproto.CodeProtocol) {
				t.Errorf("no protocol error for the reused id: %+v", frames)
			}
		}},
		{"a reply from the client", nil, func(t *testing.T, n *wire.Native) []byte {
			b, _ := n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindReply, ID: 9, Type: uint64(FixedBenchmark)}, fixed)
			return b
		}, binproto.CloseProtocol, nil},
		{"an error frame from the client", nil, func(t *testing.T, n *wire.Native) []byte {
			return n.AppendError(nil, 3, binproto.CodeInternal, false, "flood")
		}, binproto.CloseProtocol, nil},
		{"ping flood", nil, func(t *testing.T, n *wire.Native) []byte {
			var b []byte
			for range 200 {
				b = n.AppendPing(b, [8]byte{1}, false)
			}
			return b
		}, binproto.CloseRateLimit, func(t *testing.T, frames []wire.Frame) {
			pongs := 0
			for _, f := range frames {
				if f.Kind == wire.KindPing && f.Flags&wire.FlagAck != 0 {
					pongs++
				}
			}
			if pongs == 0 || pongs >= 200 {
				t.Errorf("%d pongs to 200 pings, want some and a limit", pongs)
			}
		}},
		{"cancels of unknown ids and repeated goaways are harmless", nil, func(t *testing.T, n *wire.Native) []byte {
			var b []byte
			for i := range 50 {
				b = n.AppendCancel(b, uint32(1000+i))
				b = n.AppendGoAway(b, 0, binproto.CodeUnavailable, "bye")
			}
			return append(b, request(t, n, 1, FixedBenchmark, fixed)...)
		}, "", func(t *testing.T, frames []wire.Frame) {
			if len(frames) == 0 || frames[len(frames)-1].Kind != wire.KindReply || !bytes.Equal(frames[len(frames)-1].Payload, fixed) {
				t.Errorf("no echo after the cancels and goaways: %+v", frames)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, srv, addr := nativeServer(t, c.setup)
			nc, n := rawNative(t, p, addr)
			if _, err := nc.Write(c.send(t, n)); err != nil {
				t.Fatal(err)
			}
			frames, err := readNative(nc, n, 5*time.Second, func(fr wire.Frame) bool {
				return c.reason == "" && fr.Kind == wire.KindReply
			})
			if c.reason != "" {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isReset(err) {
					t.Fatalf("read: %v, want the connection closed", err)
				}
				waitFor(t, 2*time.Second, "the close counted", func() bool { return closeCount(srv, c.reason) == 1 })
			} else if err != nil {
				t.Fatal(err)
			}
			if c.want != nil {
				c.want(t, frames)
			}
		})
	}
}

func isReset(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && !oe.Timeout()
}

func hasError(frames []wire.Frame, id uint32, code binproto.Code) bool {
	for _, f := range frames {
		if f.Kind == wire.KindError && f.ID == id && binproto.Code(f.Type) == code {
			return true
		}
	}
	return false
}

func TestNativeServerKeepalive(t *testing.T) {
	p, srv, addr := nativeServer(t, func(s *binproto.Server) { s.Native.Keepalive = 50 * time.Millisecond })
	nc, n := rawNative(t, p, addr)
	// The client answers nothing: the server pings it, then closes it.
	frames, err := readNative(nc, n, 5*time.Second, func(wire.Frame) bool { return false })
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatal("the server did not close a silent client")
	}
	if len(frames) == 0 || frames[0].Kind != wire.KindPing {
		t.Fatalf("frames before the close: %+v", frames)
	}
	waitFor(t, 2*time.Second, "the keepalive close counted", func() bool { return closeCount(srv, binproto.CloseKeepalive) == 1 })
}

func TestNativeClientKeepalive(t *testing.T) {
	p := quickProto(t, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// A server that answers the preface, then hangs.
	go func() {
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		buf := make([]byte, 512)
		nc.Read(buf)
		answer, _ := wire.AppendPreface(nil, &wire.Preface{Version: 1, Role: wire.RoleServer, Fingerprint: p.Description().Fingerprint()})
		nc.Write(answer)
		time.Sleep(5 * time.Second)
	}()
	o := nativeOpts()
	o.Keepalive = 50 * time.Millisecond
	cl := dial(t, p, l.Addr().String(), o)
	select {
	case <-cl.Conn().Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the client did not notice a hung server")
	}
	if _, err := cl.Request(testCtx(t, time.Second), statusMsg(1, "x")); !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("a request on the dead connection: %v", err)
	}
}

func TestNativeMaxConnectionAge(t *testing.T) {
	p, srv, addr := nativeServer(t, func(s *binproto.Server) {
		s.Native.MaxConnectionAge = 100 * time.Millisecond
	})
	o := nativeOpts()
	o.AlwaysRead = true
	cl := dial(t, p, addr, o)
	ctx := testCtx(t, 5*time.Second)
	if _, err := cl.Request(ctx, statusMsg(1, "young")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cl.Conn().Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the connection was not drained at its maximum age")
	}
	_, err := cl.Request(ctx, statusMsg(1, "old"))
	var e *binproto.Error
	if !(errors.As(err, &e) && e.Retryable()) && !errors.Is(err, binproto.ErrConnClosed) {
		t.Fatalf("a request after the age: %v", err)
	}
	waitFor(t, 2*time.Second, "the drain counted", func() bool {
		return closeCount(srv, binproto.CloseShutdown)+closeCount(srv, binproto.ClosePeer) == 1
	})
}
