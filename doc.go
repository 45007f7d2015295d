// Package binproto moves typed binary messages over TCP, TLS and UDP with
// far less latency and overhead than HTTP/JSON, and speaks the wire format
// of the Python package binary_protocol byte for byte.
//
// Describe each message type as a structure of typed fields, either
// dynamically ([NewStructure] with [Field] values, exchanged as maps) or as a
// Go struct with `binproto` tags ([NewCodec], zero allocations on the hot
// path). Put the structures in a [Config], build a [Protocol] from it, and
// serve it with a [Server] or talk to a server with a [Client]:
//
//	proto, err := binproto.NewProtocol(binproto.Config{
//		Types: map[binproto.MessageType]*binproto.Structure{
//			SensorData: sensorCodec.Structure(),
//			Status:     statusStructure,
//		},
//	})
//	srv := &binproto.Server{Protocol: proto}
//	binproto.HandleTyped(srv, SensorData, sensorCodec, func(ctx context.Context, c *binproto.Conn, s *Sensor) (binproto.Outgoing, error) {
//		return binproto.Typed(SensorData, sensorCodec, s), nil // echo
//	})
//	err = srv.ListenAndServe("127.0.0.1:9000")
//
// and on the client side:
//
//	cl, err := binproto.Dial(ctx, proto, "127.0.0.1:9000", nil)
//	var back Sensor
//	_, err = binproto.RequestTyped(ctx, cl, binproto.Typed(SensorData, sensorCodec, &s), sensorCodec, &back)
//	reply, err := cl.Request(ctx, binproto.Msg(Status, map[string]any{"status_code": 200, "message": "ok"}))
//
// Requests on one client are pipelined and matched to replies in order;
// Send is one-way; SendBatch and SendBatchTyped write many messages at once;
// a server pushes with Conn.Send and a client takes pushes with
// ClientOptions.Handlers or Client.Receive. Server.Shutdown drains
// gracefully. Authentication, rate limits and validators are described in
// SECURITY.md.
//
// The frame layout, the not-found reply and every place where binproto
// deliberately differs from the Python package (always in behaviour, never
// in the bytes of a valid message) are described in docs/wire-format.md. The
// byte-level building blocks live in package wire; structures and codecs in
// package schema, whose main names this package re-exports.
package binproto
