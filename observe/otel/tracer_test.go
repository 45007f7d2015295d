package bpotel_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/binproto/binproto"
	bpotel "github.com/binproto/binproto/observe/otel"
	"github.com/binproto/binproto/schema"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	Echo    binproto.MessageType = 1
	Missing binproto.MessageType = 2 // no handler: NOT_FOUND
)

type value struct {
	V uint32 `binproto:"v,>I"`
}

var valueCodec = schema.MustCodec[value]()

// setup serves a protocol of two types with a handler for Echo that starts
// a span of its own, all traced by one Tracer into an in-memory exporter.
func setup(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider, *bpotel.Tracer, *binproto.Client) {
	return setupProfile(t, binproto.ProfileCompatible)
}

// setupProfile is setup with a client of the given profile.
func setupProfile(t *testing.T, profile binproto.Profile) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider, *bpotel.Tracer, *binproto.Client) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	tr := bpotel.New(bpotel.Options{TracerProvider: tp, TypeNames: map[binproto.MessageType]string{Echo: "echo"}})

	p, err := binproto.NewProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{
		Echo: valueCodec.Structure(), Missing: valueCodec.Structure(),
	}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &binproto.Server{Protocol: p, Observer: tr}
	binproto.HandleTyped(srv, Echo, valueCodec, func(ctx context.Context, _ *binproto.Conn, v *value) (binproto.Outgoing, error) {
		_, span := tp.Tracer("handler").Start(ctx, "handler-work")
		span.End()
		return binproto.Typed(Echo, valueCodec, v), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	cl, err := binproto.Dial(ctx, p, l.Addr().String(), &binproto.ClientOptions{Observer: tr, Profile: profile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return exp, tp, tr, cl
}

// spanNamed returns the one span of the given name and kind.
func spanNamed(t *testing.T, spans tracetest.SpanStubs, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name && s.SpanKind == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans %q of kind %v, want 1 (all: %v)", len(found), name, kind, names(spans))
	}
	return found[0]
}

// waitSpans returns the spans exported once there are n of them, or after
// 5 s: the server ends its spans after the reply is written.
func waitSpans(exp *tracetest.InMemoryExporter, n int) tracetest.SpanStubs {
	deadline := time.Now().Add(5 * time.Second)
	for len(exp.GetSpans()) < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return exp.GetSpans()
}

func names(spans tracetest.SpanStubs) []string {
	var ns []string
	for _, s := range spans {
		ns = append(ns, s.Name+"/"+s.SpanKind.String())
	}
	return ns
}

// TestSpans: a request makes a client span, child of the caller's span, and
// a server span, parent of the handler's span; a NOT_FOUND request ends in
// spans with status Error on both sides.
func TestSpans(t *testing.T) {
	exp, tp, _, cl := setup(t)
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	var out value
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Echo, valueCodec, &value{7}), valueCodec, &out); err != nil || out.V != 7 {
		t.Fatalf("echo: %v, %v", out, err)
	}
	var nf *binproto.NotFoundError
	if _, err := cl.Request(ctx, binproto.Typed(Missing, valueCodec, &value{1})); !errors.As(err, &nf) {
		t.Fatalf("request of a type with no handler: %v", err)
	}
	caller.End()
	spans := waitSpans(exp, 6)

	root := spanNamed(t, spans, "caller", trace.SpanKindInternal)
	client := spanNamed(t, spans, "binproto/echo", trace.SpanKindClient)
	server := spanNamed(t, spans, "binproto/echo", trace.SpanKindServer)
	work := spanNamed(t, spans, "handler-work", trace.SpanKindInternal)
	if client.Parent.SpanID() != root.SpanContext.SpanID() || client.SpanContext.TraceID() != root.SpanContext.TraceID() {
		t.Errorf("the client span is not the child of the caller's span")
	}
	if work.Parent.SpanID() != server.SpanContext.SpanID() || work.SpanContext.TraceID() != server.SpanContext.TraceID() {
		t.Errorf("the handler's span is not the child of the server span")
	}
	for _, s := range []tracetest.SpanStub{client, server} {
		if s.Status.Code == codes.Error {
			t.Errorf("%v span: status %v", s.SpanKind, s.Status)
		}
		attrs := map[string]string{}
		for _, a := range s.Attributes {
			attrs[string(a.Key)] = a.Value.Emit()
		}
		if attrs["rpc.system"] != "binproto" || attrs["binproto.message.type"] != "1" || attrs["binproto.message.bytes"] != "6" ||
			attrs["binproto.reply.bytes"] != "6" || attrs["binproto.outcome"] != "ok" {
			t.Errorf("%v span attributes %v", s.SpanKind, attrs)
		}
	}
	for _, kind := range []trace.SpanKind{trace.SpanKindClient, trace.SpanKindServer} {
		s := spanNamed(t, spans, "binproto/2", kind)
		if s.Status.Code != codes.Error || s.Status.Description != "not_found" {
			t.Errorf("NOT_FOUND %v span: status %v, want Error not_found", kind, s.Status)
		}
	}
}

// TestPropagation: the trace context a client span injects into request
// metadata, extracted on the server side, makes the server span its child
// in one trace (what a framing that carries metadata does with it).
func TestPropagation(t *testing.T) {
	exp, _, tr, _ := setup(t)
	clientInfo := binproto.MessageInfo{Side: binproto.SideClient, Direction: binproto.DirectionOut, Type: Echo, RoundTrip: true}
	cctx := tr.StartMessage(context.Background(), clientInfo)
	metadata := map[string]string{}
	tr.Inject(cctx, func(k, v string) { metadata[k] = v })
	if metadata["traceparent"] == "" {
		t.Fatalf("no traceparent injected: %v", metadata)
	}

	sctx := tr.Extract(context.Background(), func(k string) string { return metadata[k] })
	serverInfo := binproto.MessageInfo{Side: binproto.SideServer, Direction: binproto.DirectionIn, Type: Echo}
	sctx = tr.StartMessage(sctx, serverInfo)
	tr.ObserveMessage(sctx, binproto.MessageEvent{MessageInfo: serverInfo, Bytes: 6})
	tr.ObserveMessage(cctx, binproto.MessageEvent{MessageInfo: clientInfo, Bytes: 6})

	spans := exp.GetSpans()
	client := spanNamed(t, spans, "binproto/echo", trace.SpanKindClient)
	server := spanNamed(t, spans, "binproto/echo", trace.SpanKindServer)
	if server.SpanContext.TraceID() != client.SpanContext.TraceID() || server.Parent.SpanID() != client.SpanContext.SpanID() || !server.Parent.IsRemote() {
		t.Errorf("server span %v (parent %v) is not the remote child of client span %v", server.SpanContext, server.Parent, client.SpanContext)
	}
}

// TestNativePropagation: over a real connection of the native profile, the
// request carries the client span's trace context, so that the server span
// is its remote child in one trace, and the handler's span the server
// span's child.
func TestNativePropagation(t *testing.T) {
	exp, tp, _, cl := setupProfile(t, binproto.ProfileNative)
	ctx, caller := tp.Tracer("test").Start(context.Background(), "caller")
	var out value
	if _, err := binproto.RequestTyped(ctx, cl, binproto.Typed(Echo, valueCodec, &value{9}), valueCodec, &out); err != nil || out.V != 9 {
		t.Fatalf("echo: %v, %v", out, err)
	}
	caller.End()
	spans := waitSpans(exp, 4)
	root := spanNamed(t, spans, "caller", trace.SpanKindInternal)
	client := spanNamed(t, spans, "binproto/echo", trace.SpanKindClient)
	server := spanNamed(t, spans, "binproto/echo", trace.SpanKindServer)
	work := spanNamed(t, spans, "handler-work", trace.SpanKindInternal)
	trace := root.SpanContext.TraceID()
	for _, s := range []tracetest.SpanStub{client, server, work} {
		if s.SpanContext.TraceID() != trace {
			t.Errorf("span %s/%v is in trace %v, not the caller's %v", s.Name, s.SpanKind, s.SpanContext.TraceID(), trace)
		}
	}
	if server.Parent.SpanID() != client.SpanContext.SpanID() || !server.Parent.IsRemote() {
		t.Errorf("the server span's parent is %v, want the client span %v, remote", server.Parent, client.SpanContext)
	}
	if work.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("the handler's span is not the child of the server span")
	}
}
