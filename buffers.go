package binproto

import (
	"sync/atomic"

	"github.com/binproto/binproto/internal/bufpool"
)

// getBuffer returns an empty buffer for about n bytes (n may be 0): from the
// shared pool of size classes on the fast path, so that frames of any size
// up to MaxPayloadSize reuse their buffers.
func getBuffer(p *Protocol, n int) *[]byte {
	n = max(n, bufpool.MinSize)
	if p.cfg.DisableFastPath {
		b := make([]byte, 0, n)
		return &b
	}
	return bufpool.Shared.Get(n)
}

// putBuffer returns b to the pool.
func putBuffer(p *Protocol, b *[]byte) {
	if !p.cfg.DisableFastPath {
		bufpool.Shared.Put(b)
	}
}

// sizeHint remembers the size of the last buffer a kind of frame needed, so
// that the next one is taken from the right class instead of regrown.
type sizeHint struct{ n atomic.Int64 }

func (h *sizeHint) get() int { return int(h.n.Load()) }

func (h *sizeHint) set(n int) {
	if int64(n) != h.n.Load() {
		h.n.Store(int64(n))
	}
}
