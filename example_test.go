package binproto_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"sync/atomic"
	"time"

	"github.com/binproto/binproto"
	"github.com/binproto/binproto/schema"
)

// The message types of the examples.
const (
	TypeSensor binproto.MessageType = 1
	TypeStatus binproto.MessageType = 2
)

// Sensor is a fixed-length message: four big-endian float32.
type Sensor struct {
	S1 float32 `binproto:"sensor1,>f"`
	S2 float32 `binproto:"sensor2,>f"`
	S3 float32 `binproto:"sensor3,>f"`
	S4 float32 `binproto:"sensor4,>f"`
}

var exampleSensorCodec = schema.MustCodec[Sensor]()

// exampleProtocol has a typed sensor message and a dynamic status message.
func exampleProtocol() *binproto.Protocol {
	status, err := binproto.NewStructure(schema.Uint32("status_code"), schema.Str("message"))
	if err != nil {
		log.Fatal(err)
	}
	return binproto.MustProtocol(binproto.Config{Types: map[binproto.MessageType]*binproto.Structure{
		TypeSensor: exampleSensorCodec.Structure(),
		TypeStatus: status,
	}})
}

// exampleServer starts an echo server on a loopback port and returns its
// address.
func exampleServer(proto *binproto.Protocol) (*binproto.Server, string) {
	srv := &binproto.Server{Protocol: proto}
	binproto.HandleTyped(srv, TypeSensor, exampleSensorCodec, func(_ context.Context, _ *binproto.Conn, s *Sensor) (binproto.Outgoing, error) {
		s.S4 = s.S1 + s.S2 + s.S3
		return binproto.Typed(TypeSensor, exampleSensorCodec, s), nil
	})
	srv.HandleFunc(TypeStatus, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		f, err := m.Fields()
		if err != nil {
			return binproto.NoReply, err
		}
		return binproto.Msg(TypeStatus, map[string]any{
			"status_code": f["status_code"],
			"message":     "echo: " + f["message"].(string),
		}), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	return srv, l.Addr().String()
}

// A server and a client on a loopback port, exchanging a typed message and
// a dynamic one.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv, addr := exampleServer(proto)
	defer srv.Shutdown(ctx)

	cl, err := binproto.Dial(ctx, proto, addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()

	// Typed: a Go struct in, a Go struct out.
	var reply Sensor
	_, err = binproto.RequestTyped(ctx, cl, binproto.Typed(TypeSensor, exampleSensorCodec, &Sensor{1, 2, 3, 0}), exampleSensorCodec, &reply)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("sensor: %+v\n", reply)

	// Dynamic: a map in, a map out.
	m, err := cl.Request(ctx, binproto.Msg(TypeStatus, map[string]any{"status_code": 200, "message": "hello"}))
	if err != nil {
		log.Fatal(err)
	}
	fields, err := m.Fields()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("status:", fields["status_code"], fields["message"])
	// Output:
	// sensor: {S1:1 S2:2 S3:3 S4:6}
	// status: 200 echo: hello
}

// A request for a type the server has no handler for fails with a
// *NotFoundError; the connection stays usable.
func ExampleNotFoundError() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv, addr := exampleServer(proto)
	defer srv.Shutdown(ctx)
	srv.Handle(TypeSensor, nil) // remove the sensor handler

	cl, err := binproto.Dial(ctx, proto, addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Request(ctx, binproto.Typed(TypeSensor, exampleSensorCodec, &Sensor{}))
	fmt.Println(err)
	_, err = cl.Request(ctx, binproto.Msg(TypeStatus, map[string]any{"status_code": 1, "message": "still there?"}))
	fmt.Println(err)
	// Output:
	// binproto: peer has no handler for message type 1
	// <nil>
}

// Streaming one-way messages: a batch is encoded into one buffer and sent
// with one write.
func ExampleSendBatchTyped() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv := &binproto.Server{Protocol: proto}
	var received atomic.Int64
	binproto.HandleTyped(srv, TypeSensor, exampleSensorCodec, func(context.Context, *binproto.Conn, *Sensor) (binproto.Outgoing, error) {
		received.Add(1)
		return binproto.NoReply, nil // one-way
	})
	srv.HandleFunc(TypeStatus, func(_ context.Context, m *binproto.Message) (binproto.Outgoing, error) {
		return binproto.Msg(TypeStatus, map[string]any{"status_code": received.Load(), "message": "count"}), nil
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(ctx)

	cl, err := binproto.Dial(ctx, proto, l.Addr().String(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	readings := make([]Sensor, 1000)
	if err := binproto.SendBatchTyped(ctx, cl, TypeSensor, exampleSensorCodec, readings); err != nil {
		log.Fatal(err)
	}
	// A connection's messages are handled in order, so the reply to a
	// request sent after the batch comes once the whole batch was handled.
	reply, err := cl.Request(ctx, binproto.Msg(TypeStatus, map[string]any{"status_code": 0, "message": "flush"}))
	if err != nil {
		log.Fatal(err)
	}
	fields, _ := reply.Fields()
	fmt.Println("server had received:", fields["status_code"], "messages")
	// Output:
	// server had received: 1000 messages
}

// A server pushes messages to its clients: from a handler with Conn.Send,
// or to every client with Broadcast. The client takes pushes of the types
// it has handlers for, and Receive returns the others.
func ExampleServer_Broadcast() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	proto := exampleProtocol()
	srv, addr := exampleServer(proto)
	defer srv.Shutdown(ctx)

	cl, err := binproto.Dial(ctx, proto, addr, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	// A request makes sure the server has registered the connection.
	if _, err := cl.Request(ctx, binproto.Msg(TypeStatus, map[string]any{"status_code": 0, "message": "hi"})); err != nil {
		log.Fatal(err)
	}

	n, err := srv.Broadcast(ctx, binproto.Msg(TypeStatus, map[string]any{"status_code": 503, "message": "going down"}))
	fmt.Println("sent to", n, "clients, error:", err)
	m, err := cl.Receive(ctx)
	if err != nil {
		log.Fatal(err)
	}
	f, _ := m.Fields()
	fmt.Println("client received:", f["status_code"], f["message"])
	// Output:
	// sent to 1 clients, error: <nil>
	// client received: 503 going down
}

// The bytes of a frame, as the Python package puts them on the wire.
func ExampleProtocol_AppendFrame() {
	proto := exampleProtocol()
	frame, err := proto.AppendFrame(nil, binproto.Msg(TypeStatus, map[string]any{"status_code": 200, "message": "ok"}))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("% x\n", frame)
	// Output:
	// 00 02 00 00 00 0a 00 00 00 c8 00 00 00 02 6f 6b
}
