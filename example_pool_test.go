package binproto_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/binproto/binproto"
)

// A Pool over two servers: calls are spread over both, and one server's
// Shutdown (a goaway) moves them to the other without failing any.
func ExamplePool() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	var addrs []string
	var servers []*binproto.Server
	for i := range 2 {
		srv := &binproto.Server{Protocol: proto}
		srv.HandleFunc(TypeStatus, func(context.Context, *binproto.Message) (binproto.Outgoing, error) {
			return statusOf(200+i, "ok"), nil
		})
		addrs = append(addrs, serveOnLoopback(srv))
		servers = append(servers, srv)
	}
	defer servers[1].Close()

	pool, err := binproto.NewPool(proto, binproto.PoolOptions{Addrs: addrs})
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	if err := servers[0].Shutdown(ctx); err != nil { // drains, says goaway
		log.Fatal(err)
	}
	for range 3 {
		m, err := pool.Request(binproto.Idempotent(ctx), statusOf(1, "hello"))
		if err != nil {
			log.Fatal(err)
		}
		f, _ := m.Fields()
		fmt.Println("answered by the server with code", f["status_code"])
	}
	// Output:
	// answered by the server with code 201
	// answered by the server with code 201
	// answered by the server with code 201
}
