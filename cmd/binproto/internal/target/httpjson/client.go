package httpjson

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto/cmd/binproto/internal/bench"
	"github.com/binproto/binproto/cmd/binproto/internal/schemafile"
)

// client is a bench.Client speaking HTTP/1.1 + JSON over one keep-alive
// connection.
type client struct {
	base string
	id   string
	tr   *http.Transport
	hc   *http.Client
	wire atomic.Uint64
	// schema, when set, is the schema of Request's messages.
	schema *schemafile.Schema
}

var _ bench.Client = (*client)(nil)

func newClient(addr string) *client {
	c := &client{base: "http://" + addr, id: newClientID()}
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			conn, err := dialer.DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: conn, n: &c.wire}, nil
		},
		MaxIdleConns:        2,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	c.hc = &http.Client{Transport: c.tr}
	return c
}

func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// Sensor implements bench.Client.
func (c *client) Sensor(ctx context.Context, s bench.Sensor) (bench.Sensor, error) {
	var out sensorJSON
	if err := c.call(ctx, "/sensor", toJSON(s), http.StatusOK, &out); err != nil {
		return bench.Sensor{}, err
	}
	return bench.Sensor{S1: out.S1, S2: out.S2, S3: out.S3, S4: out.S4}, nil
}

// Echo implements bench.Client.
func (c *client) Echo(ctx context.Context, payload []byte) ([]byte, error) {
	var out payloadJSON
	if err := c.call(ctx, "/echo", payloadJSON{Data: payload}, http.StatusOK, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// SendSensor implements bench.Client.
func (c *client) SendSensor(ctx context.Context, s bench.Sensor) error {
	return c.call(ctx, "/send/sensor", toJSON(s), http.StatusNoContent, nil)
}

// Send implements bench.Client.
func (c *client) Send(ctx context.Context, payload []byte) error {
	return c.call(ctx, "/send", payloadJSON{Data: payload}, http.StatusNoContent, nil)
}

// Flush implements bench.Client. HTTP has no pipelining here, so every
// one-way message has been handled when its 204 arrived; Flush just asks
// the server for its count.
func (c *client) Flush(ctx context.Context) (uint64, error) {
	var out countJSON
	if err := c.call(ctx, "/count", struct{}{}, http.StatusOK, &out); err != nil {
		return 0, err
	}
	return out.Received, nil
}

// WireBytes implements bench.Client.
func (c *client) WireBytes() uint64 { return c.wire.Load() }

// Close implements bench.Client.
func (c *client) Close() error {
	c.tr.CloseIdleConnections()
	return nil
}

func toJSON(s bench.Sensor) sensorJSON {
	return sensorJSON{S1: s.S1, S2: s.S2, S3: s.S3, S4: s.S4}
}

// call POSTs in as JSON to path, checks the status, and decodes the reply
// into out when out is not nil.
func (c *client) call(ctx context.Context, path string, in any, status int, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(ClientHeader, c.id)
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("POST %s: read reply: %w", path, err)
	}
	if resp.StatusCode != status {
		return fmt.Errorf("POST %s: status %d, want %d: %.200s", path, resp.StatusCode, status, data)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("POST %s: bad reply: %w", path, err)
	}
	return nil
}

// countingConn adds every byte read or written to n.
type countingConn struct {
	net.Conn
	n *atomic.Uint64
}

// Read counts the bytes read.
func (c *countingConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(uint64(k))
	return k, err
}

// Write counts the bytes written.
func (c *countingConn) Write(p []byte) (int, error) {
	k, err := c.Conn.Write(p)
	c.n.Add(uint64(k))
	return k, err
}
