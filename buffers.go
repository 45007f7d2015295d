package binproto

import "sync"

// Buffers for encoding outgoing frames, pooled on the fast path.
var bufferPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// batchPool keeps the large buffers batches and large frames grow, so that
// a stream of them does not regrow one for every call; sync.Pool drops them
// when the garbage collector runs, so an idle program does not keep them.
var batchPool sync.Pool

// The largest buffers either pool keeps.
const (
	maxPooledSmall = 64 << 10
	maxPooledBatch = 16 << 20
)

// getBuffer returns an empty buffer for a frame of about n bytes (0 when
// unknown or small).
func getBuffer(p *Protocol, n int) *[]byte {
	if p.cfg.DisableFastPath {
		b := make([]byte, 0, max(n, 512))
		return &b
	}
	if n > maxPooledSmall {
		return getBatchBuffer(p)
	}
	return bufferPool.Get().(*[]byte)
}

// getBatchBuffer returns a buffer for many frames: a large one kept from an
// earlier batch when there is one.
func getBatchBuffer(p *Protocol) *[]byte {
	if !p.cfg.DisableFastPath {
		if b, ok := batchPool.Get().(*[]byte); ok {
			return b
		}
	}
	return getBuffer(p, 0)
}

func putBuffer(p *Protocol, b *[]byte) {
	if p.cfg.DisableFastPath {
		return
	}
	*b = (*b)[:0]
	switch c := cap(*b); {
	case c <= maxPooledSmall:
		bufferPool.Put(b)
	case c <= maxPooledBatch:
		batchPool.Put(b)
	}
}
