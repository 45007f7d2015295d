package binproto

import "sync/atomic"

// CloseReason says why a connection closed.
type CloseReason string

// The reasons a connection closes, as counted in Stats.Closes.
const (
	ClosePeer         CloseReason = "peer"          // the peer closed or reset it
	CloseLocal        CloseReason = "local"         // Close was called on it
	CloseShutdown     CloseReason = "shutdown"      // the server shut down
	CloseIdleTimeout  CloseReason = "idle_timeout"  // no frame began within IdleTimeout
	CloseReadTimeout  CloseReason = "read_timeout"  // a frame was not complete within ReadTimeout
	CloseReadError    CloseReason = "read_error"    // another read error
	CloseWriteError   CloseReason = "write_error"   // a write failed or timed out
	CloseUnknownType  CloseReason = "unknown_type"  // a frame of an unconfigured type (after NOT_FOUND)
	CloseTooLarge     CloseReason = "too_large"     // a declared payload over MaxPayloadSize
	CloseChecksum     CloseReason = "checksum"      // a checksum mismatch
	CloseMalformed    CloseReason = "malformed"     // an undecodable frame or TLS record
	CloseHandlerError CloseReason = "handler_error" // a handler returned an error
	CloseHandlerPanic CloseReason = "handler_panic" // a handler panicked
	CloseLimit        CloseReason = "limit"         // refused: too many connections (in all, or from one IP)
	CloseAuthFailed   CloseReason = "auth_failed"   // authentication failed (wrong credentials, a frame out of turn)
	CloseAuthTimeout  CloseReason = "auth_timeout"  // not authenticated within Server.AuthTimeout
	CloseAuthLimit    CloseReason = "auth_limit"    // over Server.MaxPreAuthBytes before authenticating
	CloseRateLimit    CloseReason = "rate_limit"    // over a rate limit, with RateLimit.OnExceed closing
	CloseInvalid      CloseReason = "invalid"       // a message rejected by its validator, with OnInvalid closing
)

// Stats is a snapshot of a server's or client's counters.
type Stats struct {
	ConnectionsAccepted uint64 // connections served (TCP) since start
	ConnectionsRejected uint64 // connections closed at once over MaxConnections
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
	Authenticated       uint64 // connections that authenticated (failures are in Closes)
	RateLimited         uint64 // messages refused over a rate limit
	Invalid             uint64 // messages rejected by a validator
	AmplificationDrops  uint64 // UDP replies dropped as larger than their request
	Closes              map[CloseReason]uint64
}

// counters are the live, atomic form of Stats.
type counters struct {
	accepted, rejected            atomic.Uint64
	active                        atomic.Int64
	msgsIn, msgsOut               atomic.Uint64
	bytesIn, bytesOut             atomic.Uint64
	notFound                      atomic.Uint64
	handlerErrors, handlerPanics  atomic.Uint64
	datagramsDropped, unsolicited atomic.Uint64
	closes                        [len(reasonIndex)]atomic.Uint64
	sec                           secCounters // security.go
}

var reasonIndex = [...]CloseReason{
	ClosePeer, CloseLocal, CloseShutdown, CloseIdleTimeout, CloseReadTimeout, CloseReadError,
	CloseWriteError, CloseUnknownType, CloseTooLarge, CloseChecksum, CloseMalformed,
	CloseHandlerError, CloseHandlerPanic, CloseLimit,
	CloseAuthFailed, CloseAuthTimeout, CloseAuthLimit, CloseRateLimit, CloseInvalid,
}

func (s *counters) add(c *atomic.Uint64, n uint64) { c.Add(n) }

func (s *counters) received(n int) {
	s.msgsIn.Add(1)
	s.bytesIn.Add(uint64(n))
}

func (s *counters) sent(n int) {
	s.msgsOut.Add(1)
	s.bytesOut.Add(uint64(n))
}

func (s *counters) closed(r CloseReason) {
	for i, x := range reasonIndex {
		if x == r {
			s.closes[i].Add(1)
			return
		}
	}
}

func (s *counters) snapshot() Stats {
	st := Stats{
		ConnectionsAccepted: s.accepted.Load(),
		ConnectionsRejected: s.rejected.Load(),
		ConnectionsActive:   s.active.Load(),
		MessagesIn:          s.msgsIn.Load(),
		MessagesOut:         s.msgsOut.Load(),
		BytesIn:             s.bytesIn.Load(),
		BytesOut:            s.bytesOut.Load(),
		NotFound:            s.notFound.Load(),
		HandlerErrors:       s.handlerErrors.Load(),
		HandlerPanics:       s.handlerPanics.Load(),
		DatagramsDropped:    s.datagramsDropped.Load(),
		Unsolicited:         s.unsolicited.Load(),
		Closes:              make(map[CloseReason]uint64),
	}
	s.sec.fill(&st)
	for i, r := range reasonIndex {
		if n := s.closes[i].Load(); n > 0 {
			st.Closes[r] = n
		}
	}
	return st
}
