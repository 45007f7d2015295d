package binproto

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/binproto/binproto/internal/engine"
	"github.com/binproto/binproto/schema"
	"github.com/binproto/binproto/wire"
)

// This file holds the observation hooks: the Observer vocabulary and all
// the glue that calls an Observer from the server and the client. The
// rest of the package calls it through one-line helpers that cost a nil
// check when no Observer is set. The counters of Stats are kept where they
// always were (engine.Counters); an Observer is told of the same events,
// with the detail Stats does not keep (the message type, the outcome, the
// latency).

// Observer is told of every message a Server or Client handles, sends or
// requests, and of every connection event, to export metrics (see the
// observe/prometheus module) or traces (observe/otel). Set it as
// Server.Observer or ClientOptions.Observer; nil observes nothing and costs
// nothing.
//
// Events are passed by value and must not be retained beyond the call
// (their Err and Remote may refer to connection state). Methods are called
// concurrently from every connection's goroutines, on the hot path: they
// must be safe for concurrent use, fast, and must not block.
type Observer interface {
	// ObserveMessage is told of one message once it has been dealt with.
	// ctx is the context StartMessage returned for it (when the Observer
	// is a MessageStarter), else the connection's or caller's context.
	ObserveMessage(ctx context.Context, ev MessageEvent)
	// ObserveConn is told of one connection event.
	ObserveConn(ev ConnEvent)
}

// MessageStarter is implemented by Observers that act when a message
// begins (a tracer starts a span). Every ObserveMessage call is preceded by
// exactly one StartMessage for the same message, and receives the context
// it returned.
//
// On the server, the returned context is the one the message's Handler
// runs with, so a span started here is the parent of the handler's work.
// On the client, StartMessage runs before the request is encoded, with the
// caller's context: the returned context is the one the request waits
// with (it must not be cancelled earlier than the caller's).
type MessageStarter interface {
	StartMessage(ctx context.Context, info MessageInfo) context.Context
}

// Propagator is implemented by Observers that carry a trace context across
// the wire in a request's metadata: key/value pairs such as the W3C
// "traceparent" and "tracestate". The compatible framing has no room for
// metadata, so it is never called there. A framing that carries per-request
// metadata calls Inject on the client with the context StartMessage
// returned, before the request is encoded, and Extract on the server with
// the connection's context before StartMessage, whose context then
// descends from the extracted one: the server's span joins the client's
// trace.
type Propagator interface {
	// Inject writes the trace context of ctx with set.
	Inject(ctx context.Context, set func(key, value string))
	// Extract returns ctx with the trace context read with get (which
	// returns "" for a key that is absent).
	Extract(ctx context.Context, get func(key string) string) context.Context
}

// Side says which end of a connection observed an event.
type Side uint8

// The sides.
const (
	SideServer Side = iota + 1 // a Server (its connections and UDP peers)
	SideClient                 // a Client
)

// String returns "server" or "client".
func (s Side) String() string {
	switch s {
	case SideServer:
		return "server"
	case SideClient:
		return "client"
	}
	return "unknown"
}

// Direction says whether an observed message came in or went out.
type Direction uint8

// The directions.
const (
	// DirectionIn is a message received and handled: a request the server
	// handled (with its reply, if any), a push the client received.
	DirectionIn Direction = iota + 1
	// DirectionOut is a message sent: a client's request (with its reply),
	// a one-way message (Send, SendBatch, a server's Conn.Send).
	DirectionOut
)

// String returns "in" or "out".
func (d Direction) String() string {
	switch d {
	case DirectionIn:
		return "in"
	case DirectionOut:
		return "out"
	}
	return "unknown"
}

// Outcome says how a message ended. It is a closed set, so that it can
// label metrics; the error codes of a framing that carries them (not found,
// invalid, unauthenticated, rate limited, unavailable, deadline exceeded,
// internal) map one to one onto it.
type Outcome uint8

// The outcomes.
const (
	OutcomeOK               Outcome = iota // handled, answered, sent
	OutcomeNotFound                        // answered with (or answered by) the not-found message, or of an unknown type
	OutcomeInvalid                         // refused by a validator, undecodable, or not encodable
	OutcomeUnauthenticated                 // failed for want of authentication
	OutcomeRateLimited                     // refused over a rate limit
	OutcomeUnavailable                     // the connection closed (or the server shut down) first, or a queue was full
	OutcomeDeadlineExceeded                // the caller's deadline passed first
	OutcomeCanceled                        // the caller's context was cancelled first
	OutcomeInternal                        // the handler failed or panicked; an unexpected reply
)

// Outcomes lists every Outcome, in order: adapters size tables by it.
var Outcomes = [...]Outcome{
	OutcomeOK, OutcomeNotFound, OutcomeInvalid, OutcomeUnauthenticated, OutcomeRateLimited,
	OutcomeUnavailable, OutcomeDeadlineExceeded, OutcomeCanceled, OutcomeInternal,
}

var outcomeNames = [...]string{
	OutcomeOK: "ok", OutcomeNotFound: "not_found", OutcomeInvalid: "invalid",
	OutcomeUnauthenticated: "unauthenticated", OutcomeRateLimited: "rate_limited",
	OutcomeUnavailable: "unavailable", OutcomeDeadlineExceeded: "deadline_exceeded",
	OutcomeCanceled: "canceled", OutcomeInternal: "internal",
}

// String returns the outcome in snake case ("ok", "not_found", ...), as
// metrics label it.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// OutcomeOf classifies an error returned by a call or a handler: nil is
// OutcomeOK; an error no other case matches is OutcomeInternal.
func OutcomeOf(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	var ce *engine.CloseError
	if errors.As(err, &ce) {
		return reasonOutcome(ce.Reason)
	}
	var coded *Error // the native profile's error frames
	if errors.As(err, &coded) {
		return codeOutcome(coded.Code)
	}
	var nf *NotFoundError
	var fe *schema.FieldError
	switch {
	case errors.As(err, &nf), errors.Is(err, ErrUnknownType):
		return OutcomeNotFound
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeDeadlineExceeded
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, ErrRateLimited):
		return OutcomeRateLimited
	case errors.Is(err, ErrAuthFailed):
		return OutcomeUnauthenticated
	case errors.Is(err, ErrInvalidMessage), errors.As(err, &fe), errors.Is(err, ErrRange),
		errors.Is(err, ErrTooLarge), errors.Is(err, ErrStructureMismatch), errors.Is(err, ErrLength),
		errors.Is(err, ErrTruncated), errors.Is(err, ErrChecksum):
		return OutcomeInvalid
	case errors.Is(err, ErrClientClosed), errors.Is(err, net.ErrClosed), errors.Is(err, ErrServerClosed):
		return OutcomeUnavailable
	}
	return OutcomeInternal
}

// codeOutcome is the outcome of a native error frame of code c.
func codeOutcome(c Code) Outcome {
	switch c {
	case CodeNotFound:
		return OutcomeNotFound
	case CodeInvalid, CodeTooLarge:
		return OutcomeInvalid
	case CodeUnauthenticated:
		return OutcomeUnauthenticated
	case CodeRateLimited:
		return OutcomeRateLimited
	case CodeUnavailable, CodeConfigMismatch:
		return OutcomeUnavailable
	case CodeDeadlineExceeded:
		return OutcomeDeadlineExceeded
	case CodeCanceled:
		return OutcomeCanceled
	}
	return OutcomeInternal
}

// reasonOutcome is the outcome of a message that closed its connection
// for reason r.
func reasonOutcome(r CloseReason) Outcome {
	switch r {
	case CloseHandlerError, CloseHandlerPanic:
		return OutcomeInternal
	case CloseMalformed, CloseInvalid, CloseTooLarge, CloseChecksum:
		return OutcomeInvalid
	case CloseRateLimit:
		return OutcomeRateLimited
	case CloseAuthFailed, CloseAuthTimeout, CloseAuthLimit:
		return OutcomeUnauthenticated
	case CloseUnknownType:
		return OutcomeNotFound
	}
	return OutcomeUnavailable
}

// MessageInfo says which message StartMessage is told of.
type MessageInfo struct {
	Side      Side
	Direction Direction
	Type      MessageType // the type of the message (of the request, for a request)
	// RoundTrip marks a client's request that waits for its reply
	// (Request, RequestTyped): its Latency is the round trip.
	RoundTrip bool
}

// MessageEvent is one message dealt with.
type MessageEvent struct {
	MessageInfo
	// Bytes is the size of the message's frame on the wire (0 for a
	// request that failed before it was written).
	Bytes int
	// Replied reports a reply: sent by the server, received by the client.
	// ReplyType and ReplyBytes are its type and frame size.
	Replied    bool
	ReplyType  MessageType
	ReplyBytes int
	// Latency is, on the server, the time from the dispatch of the message
	// to its reply queued for writing (the handler's time, with decoding
	// and encoding); on the client, a request's round trip, from the call
	// to its reply decoded; for other messages, the time taken to encode
	// and queue them.
	Latency time.Duration
	// Outcome says how the message ended; Err is the error, if any.
	Outcome Outcome
	Err     error
}

// ConnEventKind says what happened to a connection.
type ConnEventKind uint8

// The connection events.
const (
	ConnOpened        ConnEventKind = iota + 1 // a connection is served (server) or set up (client)
	ConnAuthenticated                          // it authenticated
	ConnAuthFailed                             // an authentication was refused (the close follows)
	ConnRateLimited                            // a message of it was refused over a rate limit
	ConnRejected                               // refused at accept (Reason: CloseLimit, or CloseAuthFailed when throttled); never opened
	ConnClosed                                 // an opened connection closed, for Reason
)

var connKindNames = [...]string{
	ConnOpened: "opened", ConnAuthenticated: "authenticated", ConnAuthFailed: "auth_failed",
	ConnRateLimited: "rate_limited", ConnRejected: "rejected", ConnClosed: "closed",
}

// String returns the kind in snake case.
func (k ConnEventKind) String() string {
	if int(k) < len(connKindNames) && k > 0 {
		return connKindNames[k]
	}
	return "unknown"
}

// ConnEvent is one connection event.
type ConnEvent struct {
	Side   Side
	Kind   ConnEventKind
	Reason CloseReason // for ConnClosed and ConnRejected
	// Remote is the peer's address: for logs (who is being rate limited),
	// never for metric labels, whose number it would not bound.
	Remote net.Addr
	Err    error // the error a connection closed with, if any
}

// Observers returns an Observer that tells each of obs in turn (nil ones
// are left out). StartMessage and Extract pass each one's context to the
// next; Inject runs them all.
func Observers(obs ...Observer) Observer {
	var l observerList
	for _, o := range obs {
		if o != nil {
			l = append(l, o)
		}
	}
	return l
}

type observerList []Observer

func (l observerList) ObserveMessage(ctx context.Context, ev MessageEvent) {
	for _, o := range l {
		o.ObserveMessage(ctx, ev)
	}
}

func (l observerList) ObserveConn(ev ConnEvent) {
	for _, o := range l {
		o.ObserveConn(ev)
	}
}

func (l observerList) StartMessage(ctx context.Context, info MessageInfo) context.Context {
	for _, o := range l {
		if s, ok := o.(MessageStarter); ok {
			ctx = s.StartMessage(ctx, info)
		}
	}
	return ctx
}

func (l observerList) Inject(ctx context.Context, set func(key, value string)) {
	for _, o := range l {
		if p, ok := o.(Propagator); ok {
			p.Inject(ctx, set)
		}
	}
}

func (l observerList) Extract(ctx context.Context, get func(key string) string) context.Context {
	for _, o := range l {
		if p, ok := o.(Propagator); ok {
			ctx = p.Extract(ctx, get)
		}
	}
	return ctx
}

// observation is the resolved Observer of a server or client; a nil
// *observation observes nothing.
type observation struct {
	o        Observer
	starter  MessageStarter // o, when it is one
	prop     Propagator     // o, when it is one
	side     Side
	notFound MessageType // the protocol's not-found type
}

// newObservation resolves o for side and protocol p; nil for a nil o.
func newObservation(o Observer, side Side, p *Protocol) *observation {
	if o == nil {
		return nil
	}
	ob := &observation{o: o, side: side, notFound: p.cfg.NotFoundType}
	ob.starter, _ = o.(MessageStarter)
	ob.prop, _ = o.(Propagator)
	return ob
}

// inject writes ctx's trace context with set, for a framing that carries
// request metadata (see Propagator).
func (ob *observation) inject(ctx context.Context, set func(key, value string)) {
	if ob != nil && ob.prop != nil {
		ob.prop.Inject(ctx, set)
	}
}

// extract returns ctx with the trace context read with get, for a framing
// that carries request metadata (see Propagator).
func (ob *observation) extract(ctx context.Context, get func(key string) string) context.Context {
	if ob == nil || ob.prop == nil {
		return ctx
	}
	return ob.prop.Extract(ctx, get)
}

// msgObs is one message being observed; the zero value (no observer)
// observes nothing.
type msgObs struct {
	ob    *observation
	info  MessageInfo
	begin time.Time
}

// start begins observing a message of type t going in direction dir and
// returns the context to handle or send it with.
func (ob *observation) start(ctx context.Context, dir Direction, t MessageType) (context.Context, msgObs) {
	if ob == nil {
		return ctx, msgObs{}
	}
	return ob.begin(ctx, MessageInfo{Direction: dir, Type: t})
}

// begin begins observing the message info describes (its Side is set
// here) and returns the context to handle or send it with.
func (ob *observation) begin(ctx context.Context, info MessageInfo) (context.Context, msgObs) {
	if ob == nil {
		return ctx, msgObs{}
	}
	info.Side = ob.side
	if ob.starter != nil {
		ctx = ob.starter.StartMessage(ctx, info)
	}
	return ctx, msgObs{ob: ob, info: info, begin: time.Now()}
}

// end tells the observer of the message, with ev's fields other than
// MessageInfo and Latency, which it fills in.
func (m *msgObs) end(ctx context.Context, ev MessageEvent) {
	ev.MessageInfo, ev.Latency = m.info, time.Since(m.begin)
	m.ob.o.ObserveMessage(ctx, ev)
}

// once observes a message of which there is nothing to time: one refused,
// of an unknown type, dropped.
func (ob *observation) once(ctx context.Context, dir Direction, t MessageType, n int, o Outcome, err error) {
	if ob == nil {
		return
	}
	ctx, m := ob.start(ctx, dir, t)
	m.end(ctx, MessageEvent{Bytes: n, Outcome: o, Err: err})
}

// served ends the observation of a message of n bytes handled by h: out
// and err are what h returned (err also an encoding or write failure of
// the reply), replyBytes the size of the reply's frame.
func (m *msgObs) served(ctx context.Context, h Handler, n int, out Outgoing, replyBytes int, err error) {
	if m.ob != nil {
		m.servedEvent(ctx, h, n, out, replyBytes, err)
	}
}

func (m *msgObs) servedEvent(ctx context.Context, h Handler, n int, out Outgoing, replyBytes int, err error) {
	ev := MessageEvent{Bytes: n, Err: err, Outcome: OutcomeOf(err)}
	if g, ok := h.(*udpGuard); ok {
		h = g.h
	}
	if r, ok := h.(refusalHandler); ok { // answered in place of the handler
		ev.Outcome, ev.Err = OutcomeOf(r.cause), r.cause
		if !errors.Is(r.cause, ErrRateLimited) {
			ev.Outcome = OutcomeInvalid
		}
	}
	if err == nil && out.ok && replyBytes > 0 {
		ev.Replied, ev.ReplyType, ev.ReplyBytes = true, out.Type, replyBytes
		if ev.Outcome == OutcomeOK && out.Type == m.ob.notFound {
			ev.Outcome = OutcomeNotFound
		}
	}
	m.end(ctx, ev)
}

// requested ends the observation of a client's request of n bytes (0 if
// it was never written) that returned k (nil on error) and err.
func (m *msgObs) requested(ctx context.Context, n int, k *call, err error) {
	if m.ob != nil {
		m.requestedEvent(ctx, n, k, err)
	}
}

func (m *msgObs) requestedEvent(ctx context.Context, n int, k *call, err error) {
	ev := MessageEvent{Bytes: n, Err: err, Outcome: OutcomeOf(err)}
	if k != nil {
		ev.Replied, ev.ReplyType, ev.ReplyBytes = true, k.typ, k.replyBytes
		if k.decErr != nil {
			ev.Outcome, ev.Err = OutcomeOf(k.decErr), k.decErr
		}
	}
	m.end(ctx, ev)
}

// sent ends the observation of a one-way message of n bytes.
func (m *msgObs) sent(ctx context.Context, n int, err error) {
	if m.ob != nil {
		m.sentEvent(ctx, n, err)
	}
}

func (m *msgObs) sentEvent(ctx context.Context, n int, err error) {
	if err != nil {
		n = 0
	}
	m.end(ctx, MessageEvent{Bytes: n, Outcome: OutcomeOf(err), Err: err})
}

// observeConn tells the observer of a connection event of c.
func (c *Conn) observeConn(kind ConnEventKind, reason CloseReason, err error) {
	if c.obs != nil {
		c.connEvent(kind, reason, err)
	}
}

func (c *Conn) connEvent(kind ConnEventKind, reason CloseReason, err error) {
	c.obs.o.ObserveConn(ConnEvent{Side: c.obs.side, Kind: kind, Reason: reason, Remote: c.RemoteAddr(), Err: err})
}

// observeRejected tells the observer of a connection refused before it
// had a Conn.
func (s *Server) observeRejected(nc net.Conn, reason CloseReason) {
	if s.obs != nil {
		s.obs.o.ObserveConn(ConnEvent{Side: SideServer, Kind: ConnRejected, Reason: reason, Remote: nc.RemoteAddr()})
	}
}

// observeRefused tells the observer of a frame refused by screen: the
// rate-limit event, and the message itself unless r makes a handler
// answer it (served observes it then).
func (c *Conn) observeRefused(fr wire.Frame, r *Refusal, cause error, reason CloseReason) {
	if c.obs == nil {
		return
	}
	if reason == CloseRateLimit {
		c.observeConn(ConnRateLimited, "", cause)
	}
	if r.Action == ActionReply && r.Reply != nil {
		return
	}
	c.obs.once(c.Context(), DirectionIn, MessageType(fr.Type), fr.Len, reasonOutcome(reason), cause)
}

// observeUnknown tells the observer of a frame of an unknown type, which
// closed the connection after NOT_FOUND.
func (c *Conn) observeUnknown(t uint64, err error) {
	c.obs.once(c.Context(), DirectionIn, MessageType(t), 0, OutcomeNotFound, err)
}

// observePush tells the client's observer of a push queued for Receive
// (or dropped, the queue being full).
func (c *Conn) observePush(t MessageType, n int, queued bool) {
	if queued {
		c.obs.once(c.Context(), DirectionIn, t, n, OutcomeOK, nil)
	} else {
		c.obs.once(c.Context(), DirectionIn, t, n, OutcomeUnavailable, nil)
	}
}

// roundTrip queues out, registers a call for its reply (of a type in
// accept, or of one the protocol declares when accept is nil), waits for
// it, and tells the observer.
func (cl *Client) roundTrip(ctx context.Context, out Outgoing, accept []MessageType, dec replyDecoder, dst any) (*call, error) {
	k, _, err := cl.roundTripSent(ctx, out, accept, dec, dst)
	return k, err
}

// roundTripSent is roundTrip that also returns the size of the request
// once queued for writing: zero when it was never queued (a Pool retries
// such a request elsewhere).
func (cl *Client) roundTripSent(ctx context.Context, out Outgoing, accept []MessageType, dec replyDecoder, dst any) (*call, int, error) {
	ctx, m := cl.conn.obs.begin(ctx, MessageInfo{Direction: DirectionOut, Type: out.Type, RoundTrip: true})
	var n int
	k, err := cl.exchange(ctx, out, accept, dec, dst, &n)
	m.requested(ctx, n, k, err)
	return k, n, err
}

// sendFrames writes n whole frames held in b and tells the observer of
// each.
func (cl *Client) sendFrames(ctx context.Context, b []byte, n int) error {
	err := cl.writeFrames(ctx, b, n)
	if ob := cl.conn.obs; ob != nil {
		parse := cl.proto.framing.ParseFrame
		if cl.native {
			parse = cl.proto.native.layout.ParseFrame
		}
		for len(b) > 0 {
			rest, fr, ok, perr := parse(b)
			if perr != nil || !ok {
				break
			}
			mctx, m := ob.start(ctx, DirectionOut, MessageType(fr.Type))
			m.sent(mctx, fr.Len, err)
			b = rest
		}
	}
	return err
}
