package binproto

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// native is what a Protocol needs for the native profile: its frame
// layout, and the description of its configuration that prefaces carry
// (as a fingerprint) so that two ends with different configurations say so
// at connect.
type native struct {
	layout      wire.Native
	desc        *wire.Description
	text        []byte   // desc marshalled
	fingerprint [32]byte // of text
}

// initNative describes p's configuration for the native profile.
func (p *Protocol) initNative() {
	n := &p.native
	n.layout = wire.Native{Checksum: p.cfg.Checksum, MaxPayload: p.cfg.MaxPayloadSize}
	d := &wire.Description{
		Header:   p.cfg.HeaderFormat,
		Checksum: wire.ChecksumName(p.cfg.Checksum),
		NotFound: uint64(p.cfg.NotFoundType),
	}
	for t, st := range p.types {
		td := wire.TypeDescription{Code: uint64(t)}
		for _, f := range st.Fields() {
			td.Fields = append(td.Fields, describeField(f))
		}
		d.Types = append(d.Types, td)
	}
	slices.SortFunc(d.Types, func(a, b wire.TypeDescription) int {
		switch {
		case a.Code < b.Code:
			return -1
		case a.Code > b.Code:
			return 1
		}
		return 0
	})
	n.desc = d
	n.text = d.Marshal()
	n.fingerprint = d.Fingerprint()
}

// describeField names a field and its layout: "temp:>f", "name:str",
// "id:bytes[16]".
func describeField(f schema.Field) string {
	switch f.Kind {
	case schema.KindString, schema.KindBytes:
		kind := "str"
		if f.Kind == schema.KindBytes {
			kind = "bytes"
		}
		if f.FixedLength > 0 {
			kind += "[" + strconv.Itoa(f.FixedLength) + "]"
		}
		return f.Name + ":" + kind
	}
	return f.Name + ":" + f.Format
}

// magicType reports the configured message type, if any, whose header is
// the start of the native magic: a compatible frame of it could not be
// told from a native preface.
func (p *Protocol) magicType() (MessageType, bool) {
	h := p.framing.Header
	t := MessageType(h.Bits(wire.Magic[:h.Size()]))
	_, ok := p.types[t]
	return t, ok
}

// checkNative refuses to serve both profiles on one port when a configured
// type's header looks like the start of a native preface.
func (s *Server) checkNative() error {
	if s.Native.Disable {
		return nil
	}
	if t, ok := s.Protocol.magicType(); ok {
		return &ConfigError{Option: "Server.Native", Reason: fmt.Sprintf("message type %d is framed as the start of the native profile's preface; renumber it or set Native.Disable", t)}
	}
	return nil
}

// appendPayload appends the payload of o, of the configured type o.Type,
// to dst. On error dst is returned unchanged.
func (p *Protocol) appendPayload(dst []byte, o Outgoing) ([]byte, error) {
	start := len(dst)
	var err error
	if o.enc != nil {
		if s := o.enc.structure(); s != nil {
			if err := p.checkCodec(o.Type, s); err != nil {
				return dst, err
			}
		}
		dst, err = o.enc.appendPayload(dst, o.val)
	} else {
		fields, _ := o.val.(map[string]any)
		st := p.types[o.Type]
		if st == nil {
			return dst, &wire.UnknownTypeError{Type: uint64(o.Type)}
		}
		dst, err = st.AppendPayload(dst, fields)
	}
	if err != nil {
		return dst[:start], &wrapError{context: fmt.Sprintf("message type %d", o.Type), err: err}
	}
	return dst, nil
}

// appendNative appends the native frame of o with header h (whose Type it
// sets) to dst. On error dst is returned unchanged.
func (p *Protocol) appendNative(dst []byte, h *wire.NativeHeader, o Outgoing) ([]byte, error) {
	if !o.ok {
		return dst, fmt.Errorf("binproto: AppendFrame of the zero Outgoing")
	}
	if _, ok := p.types[o.Type]; !ok {
		return dst, &wire.UnknownTypeError{Type: uint64(o.Type)}
	}
	h.Type = uint64(o.Type)
	buf, start, err := p.native.layout.Begin(dst, h)
	if err != nil {
		return dst, err
	}
	if buf, err = p.appendPayload(buf, o); err != nil {
		return dst, err
	}
	if buf, err = p.native.layout.Finish(buf, start); err != nil {
		return dst, err
	}
	return buf, nil
}

// prePayload marks an Outgoing whose payload a native handler's encodeNow
// already encoded; val is that *[]byte.
type prePayload struct{}

func (prePayload) appendPayload(dst []byte, val any) ([]byte, error) {
	return append(dst, *val.(*[]byte)...), nil
}
func (prePayload) structure() *Structure { return nil }

// connectTimeout bounds a connection's set-up: ConnectTimeout, or
// DefaultTimeout when that is negative (none), for the handshakes that
// NewClient runs without a context.
func (p *Protocol) connectTimeout() time.Duration {
	if t := p.cfg.ConnectTimeout; t > 0 {
		return t
	}
	return DefaultTimeout
}

// NativeFraming returns the native profile's frame layout, for code that
// works at the byte level. The returned value must not be modified.
func (p *Protocol) NativeFraming() *wire.Native { return &p.native.layout }

// Description returns the account of the configuration that native
// prefaces carry, as a fingerprint (the client's) or in full (the
// server's). The returned value must not be modified.
func (p *Protocol) Description() *wire.Description { return p.native.desc }
