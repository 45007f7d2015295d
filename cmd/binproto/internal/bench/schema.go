package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/binproto/binproto/cmd/binproto/internal/report"
)

// SchemaWorkload is the benchmark of one message type of a schema file
// (`bench --schema FILE --type NAME`): request/response of generated
// messages of the type's shape, each reply checked to be the echo.
type SchemaWorkload struct {
	// Type is the type's name, in the benchmark's id.
	Type string
	// Code is the type's code.
	Code uint64
	// PayloadBytes is the binproto payload size of a message, for MB/s.
	PayloadBytes int
	// Message returns the values of the i-th message. It must be
	// deterministic.
	Message func(i int) map[string]any
	// Equal reports whether a reply's values are those sent.
	Equal func(sent, got map[string]any) bool
}

// MessageClient is implemented by the clients of targets that speak a
// schema's messages (built with a schema).
type MessageClient interface {
	// Request sends a message of the type with code t and returns the
	// values of the reply.
	Request(ctx context.Context, t uint64, values map[string]any) (map[string]any, error)
}

// schemaWorkload is the workload of w: one request/response benchmark.
func schemaWorkload(w *SchemaWorkload) workload {
	info := benchInfo("schema/"+w.Type+"-rr", report.KindSchema, report.ModeRequestResponse, w.PayloadBytes, 1)
	return workload{info: info, run: func(ctx context.Context, t Target, m *meter, o *Options, _ int) (phaseCounts, error) {
		return closedLoop(ctx, t, m, o, w.PayloadBytes, w.call)
	}}
}

// call makes the i-th request of the workload on c and checks its echo:
// the schema benchmark's call, and the capacity mode's with --schema.
func (w *SchemaWorkload) call(ctx context.Context, c Client, i int) error {
	mc, ok := c.(MessageClient)
	if !ok {
		return errors.New("the target does not speak schema messages")
	}
	// Warm-up calls pass negative indexes; they reuse the first messages.
	sent := w.Message(max(i, -1-i))
	got, err := mc.Request(ctx, w.Code, sent)
	if err != nil {
		return err
	}
	if !w.Equal(sent, got) {
		return fmt.Errorf("type %s: the reply %v is no echo of %v", w.Type, got, sent)
	}
	return nil
}
