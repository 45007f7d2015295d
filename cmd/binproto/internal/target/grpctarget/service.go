package grpctarget

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
)

// ServiceName is the gRPC service of the benchmark.
const ServiceName = "binproto.bench.Bench"

// The full method names of the service.
const (
	MethodEcho     = "/" + ServiceName + "/Echo"
	MethodSlowEcho = "/" + ServiceName + "/SlowEcho"
	MethodStream   = "/" + ServiceName + "/Stream"
)

// maxMessage is the largest message either side receives: every payload
// the benchmark accepts, with room to spare.
const maxMessage = bench.MaxPayload + 1<<10

// ServiceDesc is the benchmark service, written by hand: unary Echo and
// SlowEcho return their request (SlowEcho after bench.SlowDelay); the
// client stream Stream answers, when the client closes its side, with the
// number of messages it received as a big-endian uint64.
var ServiceDesc = grpc.ServiceDesc{
	ServiceName: ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: unary(MethodEcho, echo)},
		{MethodName: "SlowEcho", Handler: unary(MethodSlowEcho, slowEcho)},
	},
	Streams: []grpc.StreamDesc{{StreamName: "Stream", Handler: countStream, ClientStreams: true}},
}

// NewServer returns a gRPC server of the benchmark service: grpc-go's
// defaults, Codec forced, and the received-message limit raised to fit
// every benchmark payload. opts come last.
func NewServer(opts ...grpc.ServerOption) *grpc.Server {
	base := []grpc.ServerOption{grpc.ForceServerCodecV2(Codec{}), grpc.MaxRecvMsgSize(maxMessage)}
	s := grpc.NewServer(append(base, opts...)...)
	s.RegisterService(&ServiceDesc, struct{}{})
	return s
}

// unary turns fn into the handler of a unary method, as generated code
// does: decode the request, then call fn through the interceptor, if any.
func unary(method string, fn func(context.Context, *Frame) (*Frame, error)) grpc.MethodHandler {
	return func(_ any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
		in := new(Frame)
		if err := dec(in); err != nil {
			return nil, err
		}
		if interceptor == nil {
			return fn(ctx, in)
		}
		info := &grpc.UnaryServerInfo{FullMethod: method}
		return interceptor(ctx, in, info, func(ctx context.Context, req any) (any, error) {
			return fn(ctx, req.(*Frame))
		})
	}
}

func echo(_ context.Context, in *Frame) (*Frame, error) { return in, nil }

func slowEcho(ctx context.Context, in *Frame) (*Frame, error) {
	t := time.NewTimer(bench.SlowDelay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
		return in, nil
	}
}

// countStream receives messages until the client closes its side, then
// answers with their count.
func countStream(_ any, stream grpc.ServerStream) error {
	var n uint64
	var f Frame
	for {
		err := stream.RecvMsg(&f)
		if errors.Is(err, io.EOF) {
			return stream.SendMsg(&Frame{Data: binary.BigEndian.AppendUint64(nil, n)})
		}
		if err != nil {
			return err
		}
		n++
	}
}
