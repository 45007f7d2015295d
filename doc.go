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
//	binproto.HandleTyped(srv, SensorData, sensorCodec, func(ctx context.Context, c *binproto.Conn, s *Sensor) (binproto.Reply, error) {
//		return binproto.TypedReply(SensorData, sensorCodec, s), nil
//	})
//	err = srv.ListenAndServe("127.0.0.1:9000")
//
// The frame layout, the not-found reply and every place where binproto
// deliberately differs from the Python package (always in behaviour, never
// in the bytes of a valid message) are described in wire-format.md. The
// byte-level building blocks live in package wire; structures and codecs in
// package schema, whose main names this package re-exports.
package binproto
