package bpotel

import (
	"context"
	"strconv"

	"github.com/binproto/binproto"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer.
const ScopeName = "github.com/binproto/binproto/observe/otel"

// Options configures New. The zero value is the defaults.
type Options struct {
	// TracerProvider makes the tracer. Default otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// Propagator carries the trace context in request metadata. Default
	// propagation.TraceContext{} (W3C traceparent and tracestate).
	Propagator propagation.TextMapPropagator
	// TypeNames names message types in span names; a type missing from it
	// is named with its number.
	TypeNames map[binproto.MessageType]string
}

// Tracer is a binproto.Observer, MessageStarter and Propagator that makes
// a span of each message. It is safe for concurrent use.
type Tracer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	names  map[binproto.MessageType]string
}

// New returns a Tracer.
func New(opts Options) *Tracer {
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	prop := opts.Propagator
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	return &Tracer{tracer: tp.Tracer(ScopeName), prop: prop, names: opts.TypeNames}
}

// Attribute keys of the spans.
var (
	keySystem     = attribute.Key("rpc.system")
	keySide       = attribute.Key("binproto.side")
	keyType       = attribute.Key("binproto.message.type")
	keyBytes      = attribute.Key("binproto.message.bytes")
	keyReplyType  = attribute.Key("binproto.reply.type")
	keyReplyBytes = attribute.Key("binproto.reply.bytes")
	keyOutcome    = attribute.Key("binproto.outcome")
)

// StartMessage implements binproto.MessageStarter: it starts the message's
// span, a child of the span in ctx.
func (t *Tracer) StartMessage(ctx context.Context, info binproto.MessageInfo) context.Context {
	ctx, _ = t.tracer.Start(ctx, t.spanName(info.Type),
		trace.WithSpanKind(spanKind(info)),
		trace.WithAttributes(keySystem.String("binproto"), keySide.String(info.Side.String()), keyType.Int64(int64(info.Type))))
	return ctx
}

// ObserveMessage implements binproto.Observer: it ends the span
// StartMessage put in ctx.
func (t *Tracer) ObserveMessage(ctx context.Context, ev binproto.MessageEvent) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(keyBytes.Int(ev.Bytes), keyOutcome.String(ev.Outcome.String()))
	if ev.Replied {
		span.SetAttributes(keyReplyType.Int64(int64(ev.ReplyType)), keyReplyBytes.Int(ev.ReplyBytes))
	}
	if ev.Outcome != binproto.OutcomeOK {
		if ev.Err != nil {
			span.RecordError(ev.Err)
		}
		span.SetStatus(codes.Error, ev.Outcome.String())
	}
	span.End()
}

// ObserveConn implements binproto.Observer; connection events make no
// spans.
func (t *Tracer) ObserveConn(binproto.ConnEvent) {}

// Inject implements binproto.Propagator: it writes the trace context of
// ctx with set.
func (t *Tracer) Inject(ctx context.Context, set func(key, value string)) {
	t.prop.Inject(ctx, carrier{set: set})
}

// Extract implements binproto.Propagator: it returns ctx with the trace
// context read with get.
func (t *Tracer) Extract(ctx context.Context, get func(key string) string) context.Context {
	return t.prop.Extract(ctx, carrier{get: get})
}

// carrier adapts Inject's and Extract's functions to a TextMapCarrier.
type carrier struct {
	get func(string) string
	set func(string, string)
}

func (c carrier) Get(key string) string {
	if c.get == nil {
		return ""
	}
	return c.get(key)
}

func (c carrier) Set(key, value string) {
	if c.set != nil {
		c.set(key, value)
	}
}

func (c carrier) Keys() []string { return nil }

func (t *Tracer) spanName(mt binproto.MessageType) string {
	if n, ok := t.names[mt]; ok {
		return "binproto/" + n
	}
	return "binproto/" + strconv.FormatUint(uint64(mt), 10)
}

// spanKind is server for a message a server handles, client for a
// client's request, producer for a message sent one way, consumer for a
// push a client receives.
func spanKind(info binproto.MessageInfo) trace.SpanKind {
	switch {
	case info.Side == binproto.SideServer && info.Direction == binproto.DirectionIn:
		return trace.SpanKindServer
	case info.RoundTrip:
		return trace.SpanKindClient
	case info.Direction == binproto.DirectionOut:
		return trace.SpanKindProducer
	}
	return trace.SpanKindConsumer
}
