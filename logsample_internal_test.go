package binproto

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// recorder is a slog.Handler that keeps the records it is given.
type recorder struct {
	mu    sync.Mutex
	level slog.Level
	recs  []slog.Record
}

func (r *recorder) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// tally returns the lines logged at level and the count the summaries
// carry, for the event msg.
func (r *recorder) tally(msg string, level slog.Level) (lines, summarized int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range r.recs {
		switch {
		case rec.Message == msg && rec.Level == level:
			lines++
		case rec.Message == closeSummaryMsg:
			rec.Attrs(func(a slog.Attr) bool {
				if a.Key == "event" && a.Value.String() != msg {
					return false
				}
				if a.Key == "count" {
					summarized += int(a.Value.Int64())
				}
				return true
			})
		}
	}
	return lines, summarized
}

func TestCloseLog(t *testing.T) {
	var mu sync.Mutex
	now := time.Unix(1000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	rec := &recorder{level: slog.LevelInfo}
	l := slog.New(rec)
	cl := &closeLog{clock: clock}

	// 500 closes at once, from 10 goroutines: the first few are logged.
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			for range 50 {
				cl.log(l, slog.LevelInfo, "closed", CloseMalformed, "remote", "x")
			}
		})
	}
	wg.Wait()
	cl.log(l, slog.LevelInfo, "closed", CloseChecksum) // another reason, its own budget
	if lines, sum := rec.tally("closed", slog.LevelInfo); lines != closeLogFirst+1 || sum != 0 {
		t.Fatalf("%d lines and %d summarized, want %d and none yet", lines, sum, closeLogFirst+1)
	}
	// The next close after the interval sums up the previous one.
	advance(closeLogInterval)
	cl.log(l, slog.LevelInfo, "closed", CloseMalformed)
	if lines, sum := rec.tally("closed", slog.LevelInfo); lines != closeLogFirst+2 || sum != 500-closeLogFirst {
		t.Fatalf("after the interval: %d lines and %d summarized, want %d and %d", lines, sum, closeLogFirst+2, 500-closeLogFirst)
	}
	// flush sums up what is owed, once.
	for range 20 {
		cl.log(l, slog.LevelInfo, "closed", CloseMalformed)
	}
	cl.flush(l)
	cl.flush(l)
	if lines, sum := rec.tally("closed", slog.LevelInfo); lines != 2*closeLogFirst+1 || sum != 500-closeLogFirst+11 {
		t.Fatalf("after flush: %d lines and %d summarized, want %d and %d", lines, sum, 2*closeLogFirst+1, 500-closeLogFirst+11)
	}

	// With Debug enabled, the lines not logged at their level are logged
	// at Debug level.
	dbg := &recorder{level: slog.LevelDebug}
	cl = &closeLog{clock: clock}
	for range 30 {
		cl.log(slog.New(dbg), slog.LevelWarn, "closed", CloseMalformed)
	}
	if w, _ := dbg.tally("closed", slog.LevelWarn); w != closeLogFirst {
		t.Errorf("%d Warn lines, want %d", w, closeLogFirst)
	}
	if d, _ := dbg.tally("closed", slog.LevelDebug); d != 30-closeLogFirst {
		t.Errorf("%d Debug lines, want %d", d, 30-closeLogFirst)
	}
}
