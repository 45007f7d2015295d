package httpjson

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// NewSchemaHandler returns the baseline server handler that also echoes
// the messages of every type of s: POST /msg/{type} with the message as a
// JSON object (schemafile's JSON form) is answered with the same message,
// decoded and encoded again, as binproto's schema server does.
func NewSchemaHandler(s *schemafile.Schema) *Handler {
	h := NewHandler()
	h.mux.HandleFunc("POST /msg/{type}", func(w http.ResponseWriter, r *http.Request) {
		t := s.Type(r.PathValue("type"))
		if t == nil {
			http.Error(w, "unknown message type", http.StatusNotFound)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		v, err := t.FromJSON(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		reply(w, json.RawMessage(t.AppendJSON(nil, v)))
	})
	return h
}

// Request implements bench.MessageClient: it POSTs the message to
// /msg/{type} and returns the values of the reply.
func (c *client) Request(ctx context.Context, code uint64, values map[string]any) (map[string]any, error) {
	t := c.schema.TypeByCode(code)
	if t == nil {
		return nil, fmt.Errorf("no type with code %d in %s", code, c.schema.File)
	}
	var out json.RawMessage
	if err := c.call(ctx, "/msg/"+t.Name, json.RawMessage(t.AppendJSON(nil, values)), http.StatusOK, &out); err != nil {
		return nil, err
	}
	return t.FromJSON(out)
}
