// Package engine is binproto's connection engine: everything that happens
// between a socket and the dispatch of one frame, for any framing.
//
// A [Conn] owns one connection: its reader (one goroutine, the one running
// [Conn.Run]), its writer (internal/conn's coalescing Writer, used by any
// goroutine), its one set of read deadlines ([deadlines]: the whole-frame,
// idle and drain deadlines and the TLS handshake's), its lifecycle (close
// once with a [Reason], finish once, wait for the handlers it started) and
// the handlers it runs off the read goroutine, whose replies it writes in
// request order ([Conn.Go]). What a frame means is not its business: it
// hands each frame to a [Dispatcher], which the root package implements for
// servers and clients.
//
// A [Group] is the set of connections of one server: its accept loop (with
// back-off on temporary errors), its packet loops, its graceful drain and
// its forced close. Every goroutine of binproto starts here.
//
// Ownership: fields are commented with the goroutine that owns them; the
// read goroutine owns the frame reader, its buffer and the deadline of the
// frame being read.
package engine
