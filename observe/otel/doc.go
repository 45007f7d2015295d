// Package bpotel traces the requests of a binproto Server and Client with
// OpenTelemetry: a span per message on each side. It lives in a module of
// its own, so that the binproto library keeps no dependency beyond the
// standard library.
//
// New returns a *Tracer, a binproto.Observer that is also a
// binproto.MessageStarter and a binproto.Propagator. Set it as
// Server.Observer and ClientOptions.Observer (with binproto.Observers to
// combine it with the Prometheus adapter):
//
//   - on the server, a span of kind server covers each message from its
//     dispatch to its reply queued, and is in the context the handler runs
//     with, so the handler's own spans are its children;
//   - on the client, a span of kind client covers each request, a child of
//     the span in the caller's context; one-way messages get spans of kind
//     producer, pushes received spans of kind consumer.
//
// Spans are named "binproto/<type>" (the type's number, or its name in
// Options.TypeNames) and carry the attributes rpc.system=binproto,
// binproto.side, binproto.message.type, binproto.message.bytes,
// binproto.reply.type, binproto.reply.bytes and binproto.outcome; a message
// whose outcome is not ok has status Error with the outcome as its
// description, and its error recorded.
//
// The W3C trace context ("traceparent", "tracestate") crosses the wire in
// a request's metadata, which the compatible framing does not have: there
// the client's and the server's spans are two traces. A framing that
// carries metadata calls Inject on the client and Extract on the server
// (see binproto.Propagator), and the server's span is then the child of
// the client's, in one trace.
package bpotel
