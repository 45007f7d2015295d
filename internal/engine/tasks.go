package engine

import "sync"

// Tasks runs the background goroutines of an owner that waits for them
// all when it closes (a client pool's dialers and resolver). The zero
// value is ready to use.
type Tasks struct{ wg sync.WaitGroup }

// Go runs f on a goroutine of its own.
func (t *Tasks) Go(f func()) { t.wg.Go(f) }

// Wait waits until every f started by Go has returned.
func (t *Tasks) Wait() { t.wg.Wait() }
