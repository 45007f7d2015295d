package binproto

import "github.com/binproto/binproto/internal/engine"

// CloseReason says why a connection closed.
type CloseReason = engine.Reason

// The reasons a connection closes, as counted in Stats.Closes.
const (
	ClosePeer           = engine.ReasonPeer         // the peer closed or reset it
	CloseLocal          = engine.ReasonLocal        // Close was called on it
	CloseShutdown       = engine.ReasonShutdown     // the server shut down
	CloseIdleTimeout    = engine.ReasonIdleTimeout  // no frame began within IdleTimeout
	CloseReadTimeout    = engine.ReasonReadTimeout  // a frame (or the TLS handshake) was not complete within ReadTimeout
	CloseReadError      = engine.ReasonReadError    // another read error
	CloseWriteError     = engine.ReasonWriteError   // a write failed or timed out
	CloseUnknownType    = engine.ReasonUnknownType  // a frame of an unconfigured type (after NOT_FOUND)
	CloseTooLarge       = engine.ReasonTooLarge     // a declared payload over MaxPayloadSize
	CloseChecksum       = engine.ReasonChecksum     // a checksum mismatch
	CloseMalformed      = engine.ReasonMalformed    // an undecodable frame or TLS record
	CloseHandlerError   = engine.ReasonHandlerError // a handler returned an error
	CloseHandlerPanic   = engine.ReasonHandlerPanic // a handler panicked
	CloseLimit          = engine.ReasonLimit        // refused: too many connections (in all, or from one IP)
	CloseAuthFailed     = engine.ReasonAuthFailed   // authentication failed (wrong credentials, a frame out of turn)
	CloseAuthTimeout    = engine.ReasonAuthTimeout  // not authenticated within Server.AuthTimeout
	CloseAuthLimit      = engine.ReasonAuthLimit    // over Server.MaxPreAuthBytes before authenticating
	CloseRateLimit      = engine.ReasonRateLimit    // over a rate limit, with RateLimit.OnExceed closing
	CloseInvalid        = engine.ReasonInvalid      // a message rejected by its validator, with OnInvalid closing
	CloseKeepalive      = engine.ReasonKeepalive    // native: the peer was silent for two keepalive intervals
	CloseProtocol       = engine.ReasonProtocol     // native: a frame broke the profile's rules (a reused request id, ...)
	CloseConfigMismatch = engine.ReasonMismatch     // native: the peer's configuration differs
	CloseMaxAge         = engine.ReasonMaxAge       // native: NativeOptions.MaxConnectionAge and its grace passed
	CloseProxyHeader    = engine.ReasonProxyHeader  // a PROXY protocol header missing, malformed or from an untrusted source (Server.ProxyProtocol)
)

// Stats is a snapshot of a server's or client's counters.
type Stats struct {
	ConnectionsAccepted uint64 // connections served (TCP) since start
	ConnectionsRejected uint64 // connections closed at once: over MaxConnections, MaxConnsPerIP, IPConnRate, or throttled (AuthThrottled)
	ConnectionsActive   int64  // connections open now
	MessagesIn          uint64 // frames received
	MessagesOut         uint64 // frames sent
	BytesIn             uint64 // frame bytes received
	BytesOut            uint64 // frame bytes sent
	NotFound            uint64 // not-found replies sent
	HandlerErrors       uint64 // handlers that returned an error, replies that failed to encode
	HandlerPanics       uint64 // handlers that panicked
	DatagramsDropped    uint64 // UDP datagrams dropped as oversized or malformed
	Unsolicited         uint64 // client: messages dropped because the Receive queue was full
	Authenticated       uint64 // connections that authenticated
	AuthFailures        uint64 // authentications the Authenticator refused (wrong credentials, a frame out of turn, no decision)
	AuthThrottled       uint64 // connections refused, at accept or before a step, for their address's failed authentications (closed as CloseAuthFailed)
	AuthDelayed         uint64 // authentications delayed for their address's failed authentications
	RateLimited         uint64 // messages refused over a rate limit
	Invalid             uint64 // messages rejected by a validator
	AmplificationDrops  uint64 // UDP replies dropped as larger than their request
	BufferedBytes       int64  // server: frame bytes held now from Server.MaxBufferedBytes
	DatagramsThrottled  uint64 // UDP datagrams dropped unread over their source's budget (UDPOptions.SourceRate)
	Closes              map[CloseReason]uint64
}

// snapshot returns the Stats of the counters s.
func snapshot(s *engine.Counters) Stats {
	return Stats{
		ConnectionsAccepted: s.Accepted.Load(),
		ConnectionsRejected: s.Rejected.Load(),
		ConnectionsActive:   s.Active.Load(),
		MessagesIn:          s.MsgsIn.Load(),
		MessagesOut:         s.MsgsOut.Load(),
		BytesIn:             s.BytesIn.Load(),
		BytesOut:            s.BytesOut.Load(),
		NotFound:            s.NotFound.Load(),
		HandlerErrors:       s.HandlerErrors.Load(),
		HandlerPanics:       s.HandlerPanics.Load(),
		DatagramsDropped:    s.DatagramsDropped.Load(),
		Unsolicited:         s.Unsolicited.Load(),
		Authenticated:       s.Authenticated.Load(),
		RateLimited:         s.RateLimited.Load(),
		Invalid:             s.Invalid.Load(),
		AmplificationDrops:  s.AmplificationDrops.Load(),
		DatagramsThrottled:  s.DatagramsThrottled.Load(),
		Closes:              s.Closes(),
	}
}
