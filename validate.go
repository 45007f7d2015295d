package binproto

import (
	"errors"
	"fmt"
	"sync"
)

// ErrInvalidMessage is wrapped by the cause passed to Refusal.Reply, and by
// the error a connection closes with, when a validator rejects a message.
var ErrInvalidMessage = errors.New("binproto: message rejected by its validator")

// A Validator checks a message after it has been framed and before its
// handler runs; a non-nil error rejects it. It runs on the connection's read
// goroutine (a packet server's loop over UDP), so it must be quick and must
// not keep m, which is valid only until it returns.
type Validator func(m *Message) error

// Validate registers v for messages of type t (the validate_message hook the
// Python configuration declares and never calls); a nil v removes it.
// Rejected messages are counted in Stats.Invalid and refused as OnInvalid
// says: by default the connection is closed (CloseInvalid). Validators may
// be registered while serving. They run after authentication and rate
// limiting, over TCP, TLS and UDP alike.
//
// A validator that needs the fields decodes the payload itself (m.Fields, or
// ValidateTyped), so those messages are decoded twice: once to validate,
// once by the handler.
func (s *Server) Validate(t MessageType, v Validator) { s.sec.validators.set(t, v) }

// ValidateTyped registers fn as the validator of type t, called with the
// message decoded by codec c; a payload that does not decode is rejected
// too. The decoded value is pooled: fn must not keep v.
func ValidateTyped[T any](s *Server, t MessageType, c *Codec[T], fn func(v *T) error) {
	pool := sync.Pool{New: func() any { return new(T) }}
	s.Validate(t, func(m *Message) error {
		v := pool.Get().(*T)
		defer func() {
			var zero T
			*v = zero
			pool.Put(v)
		}()
		if err := Decode(m, c, v); err != nil {
			return err
		}
		return fn(v)
	})
}

// validatorSet maps message types to validators, copy-on-write like
// handlerSet so that the read loops take no lock.
type validatorSet struct {
	m cowMap[MessageType, Validator]
}

func (vs *validatorSet) set(t MessageType, v Validator) {
	if v == nil {
		vs.m.remove(t)
	} else {
		vs.m.set(t, v)
	}
}

func (vs *validatorSet) lookup(t MessageType) Validator {
	v, _ := vs.m.load(t)
	return v
}

// validate runs the validator of m's type, if any, turning a panic into a
// rejection; the error wraps ErrInvalidMessage.
func validate(v Validator, m *Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: type %d: validator panicked: %v", ErrInvalidMessage, m.Type, r)
		}
	}()
	if err := v(m); err != nil {
		return &wrapError{kind: ErrInvalidMessage, context: fmt.Sprintf("type %d", m.Type), err: err}
	}
	return nil
}
