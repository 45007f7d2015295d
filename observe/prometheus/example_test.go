package binprom_test

import (
	"log"
	"net/http"

	"github.com/binproto/binproto"
	binprom "github.com/binproto/binproto/observe/prometheus"
	"github.com/binproto/binproto/schema"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// A server whose messages and connections are exported on /metrics.
func Example() {
	p, err := binproto.NewProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{
		1: schema.MustStructure(schema.Float32("value")),
	}})
	if err != nil {
		log.Fatal(err)
	}
	obs := binprom.New(p, binprom.Options{TypeNames: map[binproto.MessageType]string{1: "reading"}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(obs)
	http.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	go http.ListenAndServe("127.0.0.1:9090", nil)

	srv := &binproto.Server{Protocol: p, Observer: obs}
	_ = srv // register handlers, then srv.ListenAndServe("127.0.0.1:9000")
}
