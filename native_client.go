package binproto

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/wire"
)

// nativeHandshake sends the client's preface on nc and reads the server's:
// it returns the bytes read past it, or ErrNotNative (a compatible-only
// server), or a *ConfigMismatchError naming how the server's configuration
// differs.
func nativeHandshake(ctx context.Context, p *Protocol, nc net.Conn, opts *ClientOptions) ([]byte, error) {
	hello, err := wire.AppendPreface(nil, &wire.Preface{
		Version:     1,
		Role:        wire.RoleClient,
		Features:    nativeFeatures,
		Keepalive:   opts.Keepalive,
		Fingerprint: p.native.fingerprint,
	})
	if err != nil {
		return nil, err
	}
	var server wire.Preface
	rest, err := engine.Handshake(ctx, nc, hello, func(b []byte, eof bool) (int, bool, error) {
		if prefix, _ := wire.MatchMagic(b); !prefix {
			return 0, false, fmt.Errorf("%w: it answered % x", ErrNotNative, b[:min(len(b), 8)])
		}
		if eof {
			return 0, false, fmt.Errorf("%w: it closed the connection before its preface ended", ErrNotNative)
		}
		pre, n, ok, err := wire.ParsePreface(b)
		if ok {
			server = pre
		}
		return n, ok, err
	})
	if errors.Is(err, io.EOF) {
		err = fmt.Errorf("%w: it closed the connection: %w", ErrNotNative, err)
	}
	if err != nil {
		return nil, err
	}
	if server.Role != wire.RoleServer {
		return nil, fmt.Errorf("%w: the peer's preface is not a server's", ErrNotNative)
	}
	if server.Fingerprint != p.native.fingerprint {
		return nil, p.mismatch(server.Description)
	}
	return rest, nil
}

// mismatch names how the configuration described by text (a server's)
// differs from p's.
func (p *Protocol) mismatch(text []byte) error {
	e := &ConfigMismatchError{}
	if len(text) > 0 {
		if d, err := wire.ParseDescription(text); err == nil {
			e.Differences = p.native.desc.Diff(d)
		}
	}
	if len(e.Differences) == 0 {
		e.Differences = []string{"the configurations' fingerprints differ"}
	}
	return e
}

// newID returns the id of a new request: never 0.
func (cl *Client) newID() uint32 {
	for {
		if id := cl.nextID.Add(1); id != 0 {
			return id
		}
	}
}

// takeStream takes the call awaiting the reply to request id off the
// table, or returns nil (it gave up, or the id is unknown).
func (cl *Client) takeStream(id uint32) *call {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	k := cl.streams[id]
	if k != nil {
		delete(cl.streams, id)
	}
	return k
}

// abandon forgets k, whose caller gave up, and tells the server to stop
// working on it.
func (cl *Client) abandon(k *call) {
	cl.mu.Lock()
	mine := cl.streams[k.id] == k
	if mine {
		delete(cl.streams, k.id)
	}
	cl.mu.Unlock()
	var a [16]byte
	cl.conn.e.TrySend(cl.proto.native.layout.AppendCancel(a[:0], k.id))
	if mine {
		k.dec, k.dst = nil, nil
		callPool.Put(k) // otherwise the reader, which took it, recycles it
	}
}

// goingAway returns the error of a request made after the server's goaway.
func (cl *Client) goingAway() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.away != nil {
		return cl.away
	}
	return nil
}

// dispatchNative handles a frame of the native profile. Called by the
// reader.
func (cl *Client) dispatchNative(fr wire.Frame) error {
	switch fr.Kind {
	case wire.KindReply:
		k := cl.takeStream(fr.ID)
		switch {
		case k == nil: // its caller gave up
		case fr.Flags&wire.FlagNoReply != 0:
			cl.fail(k, ErrNoReply)
		default:
			cl.deliver(k, MessageType(fr.Type), fr.Payload)
		}
		return nil
	case wire.KindError:
		e := &Error{Code: Code(fr.Type), Message: string(fr.Payload), NotProcessed: fr.Flags&wire.FlagNotProcessed != 0}
		if fr.ID == 0 {
			return engine.Close(CloseProtocol, e) // about the connection: pending calls fail with it
		}
		if k := cl.takeStream(fr.ID); k != nil {
			cl.fail(k, e)
		}
		return nil
	case wire.KindMessage:
		return cl.push(MessageType(fr.Type), fr)
	case wire.KindPing:
		if fr.Flags&wire.FlagAck == 0 {
			var a [32]byte
			cl.conn.e.TrySend(cl.proto.native.layout.AppendPing(a[:0], [8]byte(fr.Payload[:8]), true))
		}
		return nil
	case wire.KindGoAway:
		cl.goAway(fr.ID, &Error{Code: Code(fr.Type), Message: string(fr.Payload), NotProcessed: true})
		return nil
	}
	return engine.Close(CloseProtocol, fmt.Errorf("binproto: the server sent a native frame of kind %d", fr.Kind))
}

// goAway records the server's goaway: the requests after last will not be
// processed, and fail now; new ones fail at once.
func (cl *Client) goAway(last uint32, e *Error) {
	e.Message = "the server is going away: " + e.Message
	cl.mu.Lock()
	if cl.away == nil {
		close(cl.awayc)
	}
	cl.away = e
	var lost []*call
	for id, k := range cl.streams {
		if id > last {
			lost = append(lost, k)
			delete(cl.streams, id)
		}
	}
	cl.mu.Unlock()
	for _, k := range lost {
		cl.fail(k, e)
	}
}

// sendPing sends a keepalive ping unless the outbound queue is full.
func (cl *Client) sendPing() {
	var a [32]byte
	cl.conn.e.TrySend(cl.proto.native.layout.AppendPing(a[:0], [8]byte{}, false))
}

// traceMeta returns the meta entries that carry ctx's trace context to the
// server, when the client's Observer propagates one (see Propagator); nil
// otherwise, at no cost.
func (cl *Client) traceMeta(ctx context.Context) []byte {
	ob := cl.conn.obs
	if ob == nil || ob.prop == nil {
		return nil
	}
	var meta []byte
	ob.inject(ctx, func(key, value string) {
		if len(meta)+len(key)+len(value)+2*binary.MaxVarintLen16 <= wire.MaxMeta {
			meta = wire.AppendMeta(meta, key, value)
		}
	})
	return meta
}
