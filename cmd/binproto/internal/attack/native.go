package attack

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/cmd/binproto/internal/target/binprototarget"
	"github.com/binproto/binproto/wire"
)

// nativeEnv is what the native-profile attacks share: the protocol of
// `binproto serve` (the benchmark protocol, whose fingerprint a native
// client's preface must carry), its frame layout and the client preface.
type nativeEnv struct {
	proto   *binproto.Protocol
	n       *wire.Native
	preface []byte
	// maxStreams is the concurrent-stream limit the server's last preface
	// announced.
	maxStreams atomic.Uint32
}

// errNativeRefused is the error of a native connection the server refused
// at its preface (another configuration: the target is not `binproto
// serve`).
var errNativeRefused = errors.New("the server refused the native preface")

// newNativeEnv returns the native attacks' environment for cfg.
func newNativeEnv(cfg Config) (*nativeEnv, error) {
	p, err := binprototarget.NewProtocol(binprototarget.ProtocolOptions{Checksum: cfg.Checksum, MaxPayload: binprototarget.ClientMaxPayload})
	if err != nil {
		return nil, err
	}
	pre, err := clientPreface(p.Description().Fingerprint(), wire.NativeVersion)
	if err != nil {
		return nil, err
	}
	return &nativeEnv{proto: p, n: p.NativeFraming(), preface: pre}, nil
}

// clientPreface is a client's preface with fingerprint fp and version v.
func clientPreface(fp [32]byte, v uint8) ([]byte, error) {
	return wire.AppendPreface(nil, &wire.Preface{Version: v, Role: wire.RoleClient,
		Features: wire.FeatureDeadlines | wire.FeatureCancel | wire.FeatureKeepalive | wire.FeatureGoAway, Fingerprint: fp})
}

// connectNative dials the server, exchanges prefaces and, with
// AttackAuth, authenticates with a native request: a connection of the
// native profile, ready for frames, nothing of it read ahead.
func (e *env) connectNative(ctx context.Context) (net.Conn, error) {
	nc, err := e.connectRaw(ctx)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(deadline(ctx, 5*time.Second))
	err = e.handshake(nc)
	if err == nil && e.cfg.AttackAuth {
		err = e.authenticateNative(nc)
	}
	if err != nil {
		e.release(nc, true)
		return nil, err
	}
	nc.SetDeadline(time.Time{})
	return nc, nil
}

// handshake sends the client's preface on nc and reads the server's.
func (e *env) handshake(nc net.Conn) error {
	if _, err := nc.Write(e.nat.preface); err != nil {
		return err
	}
	p, err := readPreface(nc)
	if err != nil {
		return err
	}
	e.nat.maxStreams.Store(p.MaxStreams)
	// A server that refuses the configuration follows its preface with an
	// error frame and closes; one that accepts it says nothing more.
	nc.SetReadDeadline(time.Now().Add(time.Millisecond))
	fr, err := readNativeFrame(nc, e.nat.n)
	nc.SetReadDeadline(time.Time{})
	switch {
	case err == nil && fr.Kind == wire.KindError:
		return fmt.Errorf("%w: %v: %s", errNativeRefused, wire.Code(fr.Type), fr.Payload)
	case err == nil:
		return fmt.Errorf("the server sent a %v frame after its preface", fr.Kind)
	case !errors.Is(err, errNoFrame):
		return err
	}
	return nil
}

// errNoFrame is readNativeFrame's error when no byte of a frame arrived
// before the read deadline.
var errNoFrame = errors.New("no frame")

// readPreface reads exactly one preface from r.
func readPreface(r io.Reader) (wire.Preface, error) {
	buf := make([]byte, wire.PrefaceMin)
	if _, err := io.ReadFull(r, buf); err != nil {
		return wire.Preface{}, fmt.Errorf("server preface: %w", err)
	}
	desc := int(binary.BigEndian.Uint16(buf[wire.PrefaceMin-2:]))
	buf = append(buf, make([]byte, desc)...)
	if _, err := io.ReadFull(r, buf[wire.PrefaceMin:]); err != nil {
		return wire.Preface{}, fmt.Errorf("server preface: %w", err)
	}
	p, _, ok, err := wire.ParsePreface(buf)
	if err == nil && !ok {
		err = io.ErrUnexpectedEOF
	}
	return p, err
}

// readNativeFrame reads exactly one native frame from nc: errNoFrame if
// none began before nc's read deadline.
func readNativeFrame(nc net.Conn, n *wire.Native) (wire.Frame, error) {
	var l [wire.LengthSize]byte
	if k, err := io.ReadFull(nc, l[:]); err != nil {
		var ne net.Error
		if k == 0 && errors.As(err, &ne) && ne.Timeout() {
			return wire.Frame{}, errNoFrame
		}
		return wire.Frame{}, err
	}
	size := binary.BigEndian.Uint32(l[:])
	if int64(size) > int64(n.MaxFrame()) {
		return wire.Frame{}, fmt.Errorf("%w: a frame of %d bytes", wire.ErrTooLarge, size)
	}
	buf := make([]byte, wire.LengthSize+int(size))
	copy(buf, l[:])
	if _, err := io.ReadFull(nc, buf[wire.LengthSize:]); err != nil {
		return wire.Frame{}, err
	}
	return n.ParseExact(buf)
}

// authenticateNative sends the token as native request 1 and waits for its
// reply.
func (e *env) authenticateNative(nc net.Conn) error {
	t := e.cfg.TokenTypes.Token
	s := e.nat.proto.Structure(t)
	if s == nil {
		return fmt.Errorf("authenticate: the native attacks' protocol has no type %d", t)
	}
	payload, err := s.AppendPayload(nil, map[string]any{"token": []byte(e.cfg.Token)})
	if err != nil {
		return err
	}
	req, err := e.nat.n.AppendFrame(nil, &wire.NativeHeader{Kind: wire.KindRequest, ID: 1, Type: uint64(t)}, payload)
	if err != nil {
		return err
	}
	if _, err := nc.Write(req); err != nil {
		return err
	}
	fr, err := readNativeFrame(nc, e.nat.n)
	switch {
	case err != nil:
		return fmt.Errorf("authenticate: %w", err)
	case fr.Kind != wire.KindReply || fr.ID != 1:
		return fmt.Errorf("authenticate: got a %v frame (id %d, code or type %d)", fr.Kind, fr.ID, fr.Type)
	}
	return nil
}

// request appends a native REQUEST frame of type t with id and payload.
func (e *env) request(dst []byte, id uint32, t binproto.MessageType, payload []byte) ([]byte, error) {
	return e.nat.n.AppendFrame(dst, &wire.NativeHeader{Kind: wire.KindRequest, ID: id, Type: uint64(t)}, payload)
}
