package grpctarget

import (
	"fmt"

	"google.golang.org/grpc/mem"
)

// CodecName is the codec's name: the content-subtype of its calls
// ("application/grpc+binproto-raw").
const CodecName = "binproto-raw"

// Frame is every message of the benchmark service: opaque bytes.
type Frame struct {
	Data []byte
}

// Codec moves Frames as their bytes. It implements encoding.CodecV2.
type Codec struct{}

// Name implements encoding.CodecV2.
func (Codec) Name() string { return CodecName }

// Marshal implements encoding.CodecV2. Like grpc-go's protobuf codec it
// copies the message (gRPC may send it after the call that passed it has
// returned): into a fresh slice below gRPC's pooling threshold, into a
// pooled buffer that gRPC frees once written above it.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	f, ok := v.(*Frame)
	if !ok {
		return nil, fmt.Errorf("grpctarget: cannot marshal %T, want *Frame", v)
	}
	if mem.IsBelowBufferPoolingThreshold(len(f.Data)) {
		return mem.BufferSlice{mem.SliceBuffer(append([]byte(nil), f.Data...))}, nil
	}
	return mem.BufferSlice{mem.Copy(f.Data, mem.DefaultBufferPool())}, nil
}

// Unmarshal implements encoding.CodecV2: it copies data into the Frame,
// reusing the Frame's slice when it is large enough.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	f, ok := v.(*Frame)
	if !ok {
		return fmt.Errorf("grpctarget: cannot unmarshal into %T, want *Frame", v)
	}
	n := data.Len()
	if cap(f.Data) < n {
		f.Data = make([]byte, n)
	}
	f.Data = f.Data[:n]
	data.CopyTo(f.Data)
	return nil
}
