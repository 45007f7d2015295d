// Package schema describes binproto messages as structures of typed fields
// and encodes and decodes their payloads, byte for byte as the Python
// package binary_protocol 0.2.x does (see docs/wire-format.md in the binproto
// repository). Structures are compiled once into a plan; framing (the
// message-type header, the length of variable payloads, checksums) is the
// business of package wire.
//
// # Dynamic structures
//
// A [Structure] is built from [Field] values, as in the Python package, and
// encodes from and decodes to map[string]any. It suits tools and tests:
//
//	s := schema.MustStructure(schema.Uint32("status_code"), schema.Str("message"))
//	payload, err := s.AppendPayload(nil, map[string]any{"status_code": 200, "message": "ok"})
//	values, err := s.DecodePayload(payload)
//
// # Typed codecs
//
// A [Codec] maps a structure onto a Go struct through struct tags. It is the
// fast path: encoding and decoding use precomputed field offsets and no
// reflection, and fixed-length structures do not allocate.
//
//	type Status struct {
//		Code    uint32   `binproto:"status_code,>I"`
//		Message string   `binproto:"message"`    // variable-length string
//		Name    string   `binproto:"name,len=8"` // fixed-length string
//		Blob    []byte   `binproto:"blob"`       // variable-length bytes
//		Key     [16]byte `binproto:"key"`        // fixed-length bytes, length from the array
//	}
//	var statusCodec = schema.MustCodec[Status]()
//
// The tag grammar is
//
//	binproto:"NAME[,FORMAT][,len=N]"
//
// NAME is the field name on the wire (it must not be empty, and must be
// unique). A field without a binproto tag, or with the tag "-", is skipped;
// a tagged field must be exported. Fields are encoded in declaration order.
// Embedded structs are not flattened: like any other field, an untagged one
// is skipped, and a tagged one is an error.
//
// FORMAT is a one-number Python struct format ("<I", ">f", "!q", "?"...),
// for number fields only. Without it, the format follows the Go type, in
// big-endian order: int8 ">b", int16 ">h", int32 ">i", int and int64 ">q",
// uint8 ">B", uint16 ">H", uint32 ">I", uint and uint64 ">Q", float32 ">f",
// float64 ">d", bool "?". The Go type must hold every value of the format:
// a signed integer type at least as wide as a signed format, an unsigned
// type at least as wide as an unsigned format, a signed type strictly wider
// than an unsigned format, float32 for "e" and "f", float64 for "e", "f" and
// "d", bool for "?". A Go type wider than its format is range checked on
// encode (wire.ErrRange).
//
// len=N gives a string or []byte field a fixed length of N > 0 bytes. A
// [N]byte array always has the fixed length N (a len= on it must say N).
// len= on a number is an error.
//
// Go types: bool, all integer and float types (and types defined on them),
// string, []byte and [N]byte (and types defined on them). Anything else is
// an error ([ErrGoType]).
//
// # Encoding rules
//
// Numbers are packed with their format, range checked. A fixed-length
// string or bytes value in a fixed-length structure is right-padded with
// 0x00; a longer value is an error ([ErrTooLong]), where the Python package
// would grow the frame and break the stream. Variable-length strings and
// bytes are written as a 32-bit big-endian length and the bytes. In a
// variable-length structure, a fixed-length field is written the same way,
// unpadded, and its length must not exceed the fixed length (on encode and
// on decode). Strings must be valid UTF-8 ([ErrInvalidUTF8]).
//
// Errors of encoding and decoding are [*FieldError] values naming the field;
// errors of structure definitions are [*StructureError] values. Both wrap
// sentinels for errors.Is.
package schema
