package binproto

import (
	"context"
	"sync"
	"time"
)

// stream is the context of a handler of the native profile: its
// connection's context, ended early by the request's deadline or by the
// client's cancel frame. It costs no allocation, timer or goroutine until
// the handler calls Done: then it arms what it needs.
type stream struct {
	parent   context.Context
	deadline time.Time // the request's deadline; zero: none

	mu    sync.Mutex
	done  chan struct{} // made by the first Done
	err   error         // set once, by cancel
	timer *time.Timer   // the deadline's, once Done was called
	stop  func() bool   // context.AfterFunc on parent, once Done was called
}

var _ context.Context = (*stream)(nil)

// Deadline implements context.Context: the earlier of the request's and
// the connection's.
func (s *stream) Deadline() (time.Time, bool) {
	pd, ok := s.parent.Deadline()
	switch {
	case s.deadline.IsZero():
		return pd, ok
	case ok && pd.Before(s.deadline):
		return pd, true
	}
	return s.deadline, true
}

// Done implements context.Context.
func (s *stream) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done != nil {
		return s.done
	}
	s.done = make(chan struct{})
	if s.err == nil {
		s.err = s.expired()
	}
	if s.err != nil {
		close(s.done)
		return s.done
	}
	if !s.deadline.IsZero() {
		s.timer = time.AfterFunc(time.Until(s.deadline), func() { s.cancel(context.DeadlineExceeded) })
	}
	s.stop = context.AfterFunc(s.parent, func() { s.cancel(s.parent.Err()) })
	return s.done
}

// Err implements context.Context.
func (s *stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = s.expired()
		if s.err != nil && s.done != nil {
			close(s.done)
		}
	}
	return s.err
}

// expired returns why the stream has ended without a cancel, or nil.
func (s *stream) expired() error {
	if err := s.parent.Err(); err != nil {
		return err
	}
	if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// Value implements context.Context.
func (s *stream) Value(key any) any { return s.parent.Value(key) }

// cancel ends the stream with err, once.
func (s *stream) cancel(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	s.err = err
	if s.done != nil {
		close(s.done)
	}
	s.release()
}

// release stops the stream's timer and its watch of the parent. Called with
// s.mu held.
func (s *stream) release() {
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.stop != nil {
		s.stop()
	}
}

// end releases what Done armed, once the handler has returned.
func (s *stream) end() {
	s.mu.Lock()
	s.release()
	s.mu.Unlock()
}
