// Package bufpool recycles byte buffers of any size up to a bound given
// when the pool is made, in size classes four to each doubling (512, 640,
// 768, 896, 1024, ... bytes: a buffer is at most a quarter larger than
// asked for), one sync.Pool per class. It is what binproto's frame readers,
// frame writers and reply buffers share, so that a stream of large frames
// reuses its buffers instead of allocating one per frame, while an idle
// program keeps nothing: sync.Pool empties itself at garbage collection.
//
// Buffers travel as *[]byte, so that neither Get nor Put allocates once the
// pool is warm. Get(n) returns a buffer of length 0 and capacity at least
// n: the whole capacity of its class, so that it goes back to the class it
// came from. Put files a buffer under the largest class it can serve
// (capacity rounded down to a class size), so a buffer grown by append
// to an odd capacity is still reused soundly; buffers smaller than MinSize
// or larger than the largest class are dropped.
//
// The caller of Put gives the buffer up: neither it nor any slice of it may
// be used afterwards.
package bufpool
