package httpjson

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
)

// ClientHeader names the client whose one-way messages a request counts.
const ClientHeader = "X-Bench-Client"

// maxBody bounds the request bodies the server reads.
const maxBody = 64 << 20

// sensorJSON is the JSON form of bench.Sensor.
type sensorJSON struct {
	S1 float32 `json:"s1"`
	S2 float32 `json:"s2"`
	S3 float32 `json:"s3"`
	S4 float32 `json:"s4"`
}

// payloadJSON is the JSON form of an opaque payload (base64 in "data").
type payloadJSON struct {
	Data []byte `json:"data"`
}

// countJSON is the reply of /count.
type countJSON struct {
	Received uint64 `json:"received"`
}

// Handler is the baseline HTTP/JSON server. It is safe for concurrent use.
type Handler struct {
	mux      *http.ServeMux
	mu       sync.Mutex
	received map[string]*atomic.Uint64
}

// NewHandler returns a ready server handler.
func NewHandler() *Handler {
	h := &Handler{mux: http.NewServeMux(), received: map[string]*atomic.Uint64{}}
	h.mux.HandleFunc("POST /sensor", h.sensor)
	h.mux.HandleFunc("POST /echo", h.echo)
	h.mux.HandleFunc("POST /send/sensor", h.sendSensor)
	h.mux.HandleFunc("POST /send", h.send)
	h.mux.HandleFunc("POST /count", h.count)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) sensor(w http.ResponseWriter, r *http.Request) {
	var s sensorJSON
	if decode(w, r, &s) {
		reply(w, &s)
	}
}

func (h *Handler) echo(w http.ResponseWriter, r *http.Request) {
	var p payloadJSON
	if decode(w, r, &p) {
		reply(w, &p)
	}
}

func (h *Handler) sendSensor(w http.ResponseWriter, r *http.Request) {
	var s sensorJSON
	if decode(w, r, &s) {
		h.oneWay(w, r)
	}
}

func (h *Handler) send(w http.ResponseWriter, r *http.Request) {
	var p payloadJSON
	if decode(w, r, &p) {
		h.oneWay(w, r)
	}
}

// oneWay counts a received one-way message and answers 204.
func (h *Handler) oneWay(w http.ResponseWriter, r *http.Request) {
	c := h.counter(r.Header.Get(ClientHeader))
	if c == nil {
		http.Error(w, "missing "+ClientHeader+" header", http.StatusBadRequest)
		return
	}
	c.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) count(w http.ResponseWriter, r *http.Request) {
	c := h.counter(r.Header.Get(ClientHeader))
	if c == nil {
		http.Error(w, "missing "+ClientHeader+" header", http.StatusBadRequest)
		return
	}
	reply(w, &countJSON{Received: c.Load()})
}

// counter returns the one-way message counter of client id, or nil for an
// empty id.
func (h *Handler) counter(id string) *atomic.Uint64 {
	if id == "" {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.received[id]
	if !ok {
		c = new(atomic.Uint64)
		h.received[id] = c
	}
	return c
}

// decode reads a JSON body into v; on failure it answers 400 and returns
// false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		http.Error(w, "bad JSON body: "+err.Error(), http.StatusBadRequest)
		return false
	}
	return true
}

func reply(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}
