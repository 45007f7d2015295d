package binprototarget

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/binproto/binproto"
	binprom "github.com/binproto/binproto/observe/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// TypeNames name the benchmark protocol's message types in metric labels.
var TypeNames = map[binproto.MessageType]string{
	1: "sensor", 2: "status", 3: "benchmark", 4: "fixed_benchmark",
	sensorOneWay: "sensor_one_way", blobOneWay: "blob_one_way", countRequest: "count",
	AuthTypes.Token: "auth_token", AuthTypes.OK: "auth_ok",
}

// NewObserver returns the Prometheus adapter of the benchmark protocol p.
func NewObserver(p *binproto.Protocol) *binprom.Observer {
	return binprom.New(p, binprom.Options{TypeNames: TypeNames})
}

// ServeMetrics serves the metrics of obs, with the Go runtime's and the
// process's, on http://addr/metrics, and returns the address bound and a
// function that stops serving.
func ServeMetrics(addr string, obs *binprom.Observer, log *slog.Logger) (net.Addr, func(), error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(obs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second}
	go func() {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return l.Addr(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
	}, nil
}

// serveMetrics sets srv's Observer to the Prometheus adapter and serves its
// metrics on addr (`binproto serve --metrics`), logging where.
func serveMetrics(addr string, srv *binproto.Server) (stop func(), err error) {
	obs := NewObserver(srv.Protocol)
	bound, stop, err := ServeMetrics(addr, obs, srv.Logger)
	if err != nil {
		return nil, err
	}
	srv.Observer = obs
	srv.Logger.Info("serving metrics", "url", "http://"+bound.String()+"/metrics")
	return stop, nil
}
