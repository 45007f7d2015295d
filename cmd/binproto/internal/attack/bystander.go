package attack

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/quickstart"
)

// Bystander is what the well-behaved client saw during an attack.
type Bystander struct {
	Requests  uint64  `json:"requests"`
	Errors    uint64  `json:"errors"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	MaxMs     float64 `json:"max_ms"`
	LastError string  `json:"last_error,omitempty"`
}

// bystander makes one SENSOR_DATA request every Interval over its own
// connection (from the default source address), reconnecting after an
// error, and records each request's latency.
type bystander struct {
	stopc chan struct{} // closed by stop: no new request
	done  chan struct{}

	mu   sync.Mutex
	hist *hdrhistogram.Histogram // µs
	res  Bystander
}

// requestTimeout bounds one bystander request; a slower one is an error.
const requestTimeout = 2 * time.Second

// startBystander connects the bystander (to the UDP server if udp) and
// starts its requests.
func startBystander(ctx context.Context, cfg Config, udp bool) (*bystander, error) {
	p, err := protocol(cfg, udp)
	if err != nil {
		return nil, err
	}
	addr := cfg.Addr
	var opts *binproto.ClientOptions
	if udp {
		addr = cfg.UDPAddr
	} else if cfg.Token != "" {
		opts = &binproto.ClientOptions{Auth: binproto.TokenCredentials{Types: cfg.TokenTypes, Token: []byte(cfg.Token)}}
	}
	dial := func(ctx context.Context) (*binproto.Client, error) {
		dctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		return binproto.Dial(dctx, p, addr, opts)
	}
	cl, err := dial(ctx)
	if err != nil {
		return nil, err
	}
	b := &bystander{stopc: make(chan struct{}), done: make(chan struct{}), hist: hdrhistogram.New(1, 60_000_000, 3)}
	go func() {
		defer close(b.done)
		in := quickstart.Sensor{Sensor1: 1.5, Sensor2: -2, Sensor3: 0.25, Sensor4: 8}
		var out quickstart.Sensor
		next := time.Now()
		for {
			wait := time.NewTimer(time.Until(next))
			select {
			case <-ctx.Done():
			case <-b.stopc:
			case <-wait.C:
			}
			wait.Stop()
			if ctx.Err() != nil || isClosed(b.stopc) {
				break
			}
			next = next.Add(cfg.Interval)
			if now := time.Now(); next.Before(now) {
				next = now // a slow request delays the next; none piles up
			}
			var err error
			start := time.Now()
			if cl == nil {
				cl, err = dial(ctx)
			}
			if err == nil {
				rctx, rcancel := context.WithTimeout(ctx, requestTimeout)
				_, err = binproto.RequestTyped(rctx, cl, binproto.Typed(quickstart.SensorData, quickstart.SensorCodec, &in), quickstart.SensorCodec, &out)
				rcancel()
				if err == nil && out != in {
					err = errMismatch
				}
			}
			if ctx.Err() != nil {
				break // the run was interrupted mid-request: not the server's doing
			}
			b.record(time.Since(start), err)
			if err != nil && cl != nil {
				cl.Close()
				cl = nil
			}
		}
		if cl != nil {
			cl.Close()
		}
	}()
	return b, nil
}

var errMismatch = errors.New("echo differs from the request")

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (b *bystander) record(d time.Duration, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.res.Requests++
	if err != nil {
		b.res.Errors++
		b.res.LastError = err.Error()
		return
	}
	_ = b.hist.RecordValue(max(d.Microseconds(), 1))
}

// stop ends the requests and returns what the bystander saw.
// A request in flight is waited for (at most requestTimeout) and counted.
func (b *bystander) stop() Bystander {
	close(b.stopc)
	<-b.done
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.res
	if b.hist.TotalCount() > 0 {
		r.P50Ms = float64(b.hist.ValueAtQuantile(50)) / 1000
		r.P99Ms = float64(b.hist.ValueAtQuantile(99)) / 1000
		r.MaxMs = float64(b.hist.Max()) / 1000
	}
	return r
}
