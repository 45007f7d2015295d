package wire

import (
	"encoding/binary"
	"fmt"
)

// AppendMeta appends one meta entry, key and value, to dst:
//
//	| key_len uvarint | key | value_len uvarint | value |
//
// A frame's meta (NativeHeader.Meta, Frame.Meta) is a sequence of entries,
// at most MaxMeta bytes in all; W3C trace context travels in it under the
// keys "traceparent" and "tracestate".
func AppendMeta(dst []byte, key, value string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	return append(dst, value...)
}

// RangeMeta calls fn for each entry of meta, in order, until fn returns
// false. key and value alias meta. Meta over MaxMeta bytes is ErrTooLarge;
// an entry that runs past the end, or a length that is not a shortest-form
// uvarint, is ErrFormat (the entries before it have been passed to fn). A
// nil fn only checks meta.
func RangeMeta(meta []byte, fn func(key, value []byte) bool) error {
	if len(meta) > MaxMeta {
		return fmt.Errorf("%w: meta of %d bytes exceeds the maximum of %d", ErrTooLarge, len(meta), MaxMeta)
	}
	for len(meta) > 0 {
		key, rest, err := metaField(meta, "meta key")
		if err != nil {
			return err
		}
		value, rest, err := metaField(rest, "meta value")
		if err != nil {
			return err
		}
		meta = rest
		if fn != nil && !fn(key, value) {
			return nil
		}
	}
	return nil
}

// metaField splits the length-prefixed field at the start of b from the
// rest of b.
func metaField(b []byte, what string) (field, rest []byte, err error) {
	size, n, err := uvarint(b, what)
	if err != nil {
		return nil, nil, err
	}
	if size > uint64(len(b)-n) {
		return nil, nil, fmt.Errorf("%w: %s of %d bytes, %d left", ErrFormat, what, size, len(b)-n)
	}
	end := n + int(size)
	return b[n:end:end], b[end:], nil
}
