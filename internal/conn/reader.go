package conn

import (
	"io"
	"sync"
)

// burstSize is the size of the pooled buffer a BurstReader reads into while
// data keeps arriving faster than it is consumed.
const burstSize = 64 << 10

var burstPool = sync.Pool{New: func() any { return new([burstSize]byte) }}

// BurstReader sits between a connection and a small-buffered frame reader.
// While reads return less than was asked for (the connection is drained at
// each read: request/response traffic, idle waits), it reads straight into
// the caller's buffer. Once a read fills the caller's buffer, more data is
// likely waiting, so the next reads go through a pooled burstSize buffer,
// cutting the number of read system calls for streams of frames; the buffer
// returns to the pool as soon as it has been consumed. An idle connection
// therefore holds no burst buffer, except after a read that happened to
// fill one exactly.
//
// Like the frame reader it feeds, a BurstReader is owned by one goroutine.
type BurstReader struct {
	r     io.Reader
	buf   *[burstSize]byte // nil unless bytes are buffered or a burst read is under way
	start int
	end   int
	burst bool  // the last read filled its buffer
	err   error // an error that came with buffered bytes, returned after them
}

// NewBurstReader returns a BurstReader reading from r.
func NewBurstReader(r io.Reader) *BurstReader { return &BurstReader{r: r} }

// Read reads into p, from the burst buffer or from the connection.
func (b *BurstReader) Read(p []byte) (int, error) {
	if b.start < b.end {
		n := copy(p, b.buf[b.start:b.end])
		b.start += n
		b.releaseIfEmpty()
		return n, nil
	}
	if err := b.err; err != nil {
		b.err = nil
		return 0, err
	}
	if !b.burst || len(p) >= burstSize {
		n, err := b.r.Read(p)
		b.burst = n == len(p) && err == nil
		return n, err
	}
	b.buf = burstPool.Get().(*[burstSize]byte)
	m, err := b.r.Read(b.buf[:])
	b.burst = m == burstSize && err == nil
	b.start, b.end = 0, m
	n := copy(p, b.buf[:m])
	b.start = n
	b.releaseIfEmpty()
	if b.start < b.end {
		b.err = err // after the buffered bytes
		return n, nil
	}
	return n, err
}

func (b *BurstReader) releaseIfEmpty() {
	if b.start == b.end && b.buf != nil {
		burstPool.Put(b.buf)
		b.buf, b.start, b.end = nil, 0, 0
	}
}
