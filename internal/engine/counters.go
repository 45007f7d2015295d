package engine

import "sync/atomic"

// Counters are the live counters of a server or a client, shared by all of
// its connections. The root package's Stats is a snapshot of them.
type Counters struct {
	Accepted, Rejected            atomic.Uint64
	Active                        atomic.Int64
	MsgsIn, MsgsOut               atomic.Uint64
	BytesIn, BytesOut             atomic.Uint64
	NotFound                      atomic.Uint64
	HandlerErrors, HandlerPanics  atomic.Uint64
	DatagramsDropped, Unsolicited atomic.Uint64
	Authenticated, RateLimited    atomic.Uint64
	Invalid, AmplificationDrops   atomic.Uint64
	DatagramsThrottled            atomic.Uint64

	closes [len(Reasons)]atomic.Uint64
}

// Received counts one frame of n bytes received.
func (s *Counters) Received(n int) {
	s.MsgsIn.Add(1)
	s.BytesIn.Add(uint64(n))
}

// Sent counts one frame of n bytes sent.
func (s *Counters) Sent(n int) {
	s.MsgsOut.Add(1)
	s.BytesOut.Add(uint64(n))
}

// Closed counts one connection closed for reason r.
func (s *Counters) Closed(r Reason) {
	for i, x := range Reasons {
		if x == r {
			s.closes[i].Add(1)
			return
		}
	}
}

// Closes returns the number of connections closed for each reason, leaving
// out the reasons never seen.
func (s *Counters) Closes() map[Reason]uint64 {
	m := make(map[Reason]uint64)
	for i, r := range Reasons {
		if n := s.closes[i].Load(); n > 0 {
			m[r] = n
		}
	}
	return m
}
