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

// TestBudgetWaitersInOrder: waiters are served oldest first, and a waiter
// that gives up lets the ones behind it through.
func TestBudgetWaitersInOrder(t *testing.T) {
	b := NewBudget(10)
	b.acquire(10, time.Time{}, nil)
	order := make(chan int, 3)
	var wg sync.WaitGroup
	giveUp := make(chan struct{})
	start := func(i int, n int64, done <-chan struct{}) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := b.acquire(n, time.Time{}, done); err == nil {
				order <- i
			} else if !errors.Is(err, errDone) {
				t.Errorf("waiter %d: %v", i, err)
			}
		}()
		for waiting(b) < i+1 {
			time.Sleep(time.Millisecond)
		}
	}
	start(0, 8, giveUp) // gives up
	start(1, 5, nil)
	start(2, 5, nil)
	close(giveUp)
	for waiting(b) != 2 {
		time.Sleep(time.Millisecond)
	}
	b.release(10)
	wg.Wait()
	close(order)
	var got []int
	for i := range order {
		got = append(got, i)
	}
	if len(got) != 2 || got[0] != 1 || got[1] != 2 || b.Used() != 10 {
		t.Fatalf("granted %v, used %d; want [1 2], 10", got, b.Used())
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
