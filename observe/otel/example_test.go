package bpotel_test

import (
	"github.com/binproto/binproto"
	bpotel "github.com/binproto/binproto/observe/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// A server and a client traced by one TracerProvider (export its spans
// with an exporter of your choice).
func Example() {
	tp := sdktrace.NewTracerProvider()
	tracer := bpotel.New(bpotel.Options{TracerProvider: tp})

	srv := &binproto.Server{Observer: tracer}                  // set Protocol, register handlers, serve
	opts := &binproto.ClientOptions{Observer: tracer}          // binproto.Dial(ctx, proto, addr, opts)
	_ = binproto.Observers(tracer /*, a Prometheus adapter */) // both at once
	_, _ = srv, opts
}
