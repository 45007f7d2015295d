// Package grpctarget is the grpc-go target of the benchmark suite: the peer
// a user would pick instead of binproto, selectable as `--baseline grpc` or
// in `--targets`.
//
// The service is written by hand, with no protocol compiler: a
// grpc.ServiceDesc named binproto.bench.Bench whose unary methods Echo and
// SlowEcho (which answers after bench.SlowDelay) return the request, and
// whose client-streaming method Stream counts the messages it receives and
// answers with the count when the client closes its side. Every message is
// a Frame, raw bytes, moved by Codec (an encoding.CodecV2 forced on both
// sides) the way grpc-go's own protobuf codec moves an encoded message:
// small ones in a fresh slice, larger ones in pooled buffers.
//
// Settings are grpc-go's defaults (one HTTP/2 connection per
// grpc.ClientConn, its default window sizes, buffers and stream limits)
// but for two limits raised so that every size of the benchmark fits: the
// largest message received, 4 MiB by default, is bench.MaxPayload plus a
// kilobyte on both sides. Connections are plain TCP (insecure
// credentials), like the binproto and HTTP/JSON targets.
package grpctarget
