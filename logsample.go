package binproto

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// How a server samples the log lines of connections it closes: per event
// and reason, the first closeLogFirst lines of each closeLogInterval are
// logged; the others are counted, and one line sums them up (see
// closeLog).
const (
	closeLogFirst    = 10
	closeLogInterval = 10 * time.Second
)

// closeSummaryMsg is the message of the line that sums up the closes a
// closeLog did not log one by one.
const closeSummaryMsg = "binproto: more connections closed than logged"

// closeLog samples the log lines of a server's abnormal closes, so that a
// peer that opens and spoils connections by the thousand cannot flood the
// log: of each event (message and reason) it logs the first closeLogFirst
// of an interval of closeLogInterval and counts the others. The count is
// logged as one summary line (closeSummaryMsg, with the event, its reason,
// the count and the interval) lazily, by the first call after the interval
// ends, and by flush. It runs no goroutine. Lines it does not log at their
// level still go out at Debug level when the logger enables it. The zero
// value is ready; it is safe for concurrent use. Its memory is bounded by
// the number of distinct events, a small fixed set.
type closeLog struct {
	clock func() time.Time // nil: timeNow

	mu    sync.Mutex
	m     map[closeEvent]*closeWindow
	swept time.Time // when expired windows were last summed up
}

// closeEvent is what closeLog samples by.
type closeEvent struct {
	msg    string
	reason CloseReason
}

// closeWindow is the current interval of one event.
type closeWindow struct {
	start      time.Time
	logged     int // lines logged in the interval
	suppressed int // lines counted instead
}

// summary is one line that closeLog owes.
type summary struct {
	ev    closeEvent
	count int
}

// log logs msg at level with the attributes reason and args, or counts it
// when its event already had closeLogFirst lines in the current interval.
func (cl *closeLog) log(l *slog.Logger, level slog.Level, msg string, reason CloseReason, args ...any) {
	if l == discardLogger {
		return
	}
	now := cl.now()
	ev := closeEvent{msg, reason}
	cl.mu.Lock()
	if cl.m == nil {
		cl.m = make(map[closeEvent]*closeWindow)
	}
	var owed []summary
	if now.Sub(cl.swept) >= closeLogInterval {
		owed = cl.sweep(now, owed)
		cl.swept = now
	}
	w := cl.m[ev]
	switch {
	case w == nil:
		w = &closeWindow{start: now}
		cl.m[ev] = w
	case now.Sub(w.start) >= closeLogInterval:
		if w.suppressed > 0 {
			owed = append(owed, summary{ev, w.suppressed})
		}
		*w = closeWindow{start: now}
	}
	ok := w.logged < closeLogFirst
	if ok {
		w.logged++
	} else {
		w.suppressed++
	}
	cl.mu.Unlock()
	emit(l, owed)
	ctx := context.Background()
	if !ok {
		if level = slog.LevelDebug; !l.Enabled(ctx, level) {
			return
		}
	}
	l.Log(ctx, level, msg, append([]any{"reason", reason}, args...)...)
}

func (cl *closeLog) now() time.Time {
	if cl.clock != nil {
		return cl.clock()
	}
	return timeNow()
}

// sweep appends the summaries of the windows that ended by now to owed and
// starts them anew; cl.mu must be held.
func (cl *closeLog) sweep(now time.Time, owed []summary) []summary {
	for ev, w := range cl.m {
		if now.Sub(w.start) < closeLogInterval {
			continue
		}
		if w.suppressed > 0 {
			owed = append(owed, summary{ev, w.suppressed})
		}
		*w = closeWindow{start: now}
	}
	return owed
}

// flush logs the summaries of every window, ended or not, and starts them
// anew: at Shutdown and Close.
func (cl *closeLog) flush(l *slog.Logger) {
	cl.mu.Lock()
	var owed []summary
	now := cl.now()
	for ev, w := range cl.m {
		if w.suppressed > 0 {
			owed = append(owed, summary{ev, w.suppressed})
		}
		*w = closeWindow{start: now}
	}
	cl.mu.Unlock()
	emit(l, owed)
}

// emit logs the summaries owed.
func emit(l *slog.Logger, owed []summary) {
	for _, s := range owed {
		l.Info(closeSummaryMsg, "event", s.ev.msg, "reason", s.ev.reason, "count", s.count, "interval", closeLogInterval)
	}
}

// logClose logs the closing of c for reason: sampled by its server's
// closeLog on a server connection, as is on a client's.
func (c *Conn) logClose(level slog.Level, msg string, reason CloseReason, args ...any) {
	if c.srv == nil {
		c.log.Log(context.Background(), level, msg, append([]any{"reason", reason}, args...)...)
		return
	}
	c.srv.sec.logs.log(c.log, level, msg, reason, args...)
}
