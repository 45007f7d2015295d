// Package conn holds binproto's per-connection I/O machinery, independent of
// any one framing: Writer, a coalescing, bounded frame writer that any
// goroutine may use, and BurstReader, which batches the reads of the single
// goroutine that reads a connection. The read loop itself, with its
// deadlines (idle, whole-frame, drain), lives in internal/engine.
//
// Ownership: one goroutine at a time reads a connection and owns the frame
// reader, its buffer and the BurstReader under it: a server connection's
// read loop, or on a client the holder of the read token (a caller waiting
// for its reply, or the background reader; see internal/engine). Writes need no
// goroutine of their own: the goroutine whose frame finds the writer idle
// becomes the flusher (or, for Writer.Send, a goroutine started for the
// burst), writes everything queued so far in one vectored write of pooled
// chunks, and keeps flushing until the queue is empty; frames that arrive
// meanwhile are appended to the queue and coalesced into the next write. An
// idle connection therefore costs one goroutine and no write buffer.
package conn
