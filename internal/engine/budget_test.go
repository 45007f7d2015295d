package engine

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

func TestBudgetAcquireRelease(t *testing.T) {
	b := NewBudget(100)
	if got, err := b.acquire(60, time.Time{}, nil); got != 60 || err != nil {
		t.Fatalf("acquire 60: %d, %v", got, err)
	}
	if _, ok := b.tryAcquire(50); ok {
		t.Fatal("tryAcquire 50 of the 40 left succeeded")
	}
	if got, ok := b.tryAcquire(40); !ok || got != 40 || b.Used() != 100 {
		t.Fatalf("tryAcquire 40: %d, %v, used %d", got, ok, b.Used())
	}
	b.release(100)
	if b.Used() != 0 {
		t.Fatalf("used %d after release", b.Used())
	}
	// A request larger than the budget is clamped: it waits for all of it.
	if got, err := b.acquire(1000, time.Time{}, nil); got != 100 || err != nil {
		t.Fatalf("acquire 1000 of 100: %d, %v", got, err)
	}
	b.release(100)
}

// TestBudgetWaitersInOrder: a small request that would fit waits behind
// an older large one (no starvation of large frames), and a waiter that
// gives up lets the ones behind it through.
func TestBudgetWaitersInOrder(t *testing.T) {
	b := NewBudget(10)
	b.acquire(5, time.Time{}, nil)
	granted := make(chan int64, 3)
	var wg sync.WaitGroup
	start := func(n int64, done <-chan struct{}) {
		want := waiting(b) + 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := b.acquire(n, time.Time{}, done); err == nil {
				granted <- got
			} else if !errors.Is(err, errDone) {
				t.Errorf("acquire %d: %v", n, err)
			}
		}()
		for waiting(b) < want {
			time.Sleep(time.Millisecond)
		}
	}
	giveUp := make(chan struct{})
	start(9, giveUp) // waits: 5 + 9 > 10
	start(8, nil)    // waits behind it
	start(2, nil)    // would fit (5 + 2), but waits behind them
	if b.Used() != 5 {
		t.Fatalf("used %d: a younger request jumped the queue", b.Used())
	}
	close(giveUp) // the 9 gives up: the 8 still does not fit, so the 2 waits too
	for waiting(b) != 2 {
		time.Sleep(time.Millisecond)
	}
	if b.Used() != 5 {
		t.Fatalf("used %d after a waiter gave up", b.Used())
	}
	b.release(5) // now the 8, then the 2
	wg.Wait()
	close(granted)
	var sum int64
	for g := range granted {
		sum += g
	}
	if sum != 10 || b.Used() != 10 || waiting(b) != 0 {
		t.Fatalf("granted %d, used %d, %d waiting; want 10, 10, 0", sum, b.Used(), waiting(b))
	}
}

func TestBudgetDeadline(t *testing.T) {
	b := NewBudget(1)
	b.acquire(1, time.Time{}, nil)
	if _, err := b.acquire(1, time.Now().Add(20*time.Millisecond), nil); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("acquire past its deadline: %v", err)
	}
	if w := waiting(b); w != 0 {
		t.Fatalf("%d waiters left", w)
	}
}

func waiting(b *Budget) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.waiters)
}
