// Package wire holds binproto's byte-level building blocks: Python struct
// style number formats, message-type headers, checksums, the frame layout
// of the Python binary_protocol package ([Framing], the compatible profile)
// and that of binproto's native profile ([Native]: request ids, error
// frames, deadlines, cancel, ping, goaway), with its connection [Preface]
// and configuration [Description].
//
// Everything here is a pure function over []byte, with no I/O and no
// goroutines, in the manner of encoding/binary: Append* functions grow a
// destination slice, parse functions read from a source slice and tell "need
// more bytes" (ok == false, err == nil) apart from "malformed" (err != nil).
// The one exception is [FrameReader], a thin io.Reader wrapper over
// [Framing.ParseFrame] or [Native.ParseFrame] (see [NewNativeReader]) that
// checks the declared length against the maximum before it allocates or
// reads anything.
//
// The byte layout is specified in docs/wire-format.md in the binproto repository.
package wire
