package estreamer

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// warnEvery is how often one kind of skipped-data message is logged; the
// counters count every occurrence.
const warnEvery = time.Minute

// logLimiter logs a message of each kind at most once per interval, with
// the number of occurrences it held back since the last one logged
// ("suppressed"), so a stream of bad records cannot flood the log.
type logLimiter struct {
	mu    sync.Mutex
	every time.Duration
	now   func() time.Time
	last  map[string]time.Time
	held  map[string]int
}

func newLogLimiter(every time.Duration) *logLimiter {
	return &logLimiter{every: every, now: time.Now, last: map[string]time.Time{}, held: map[string]int{}}
}

// log writes msg at level unless a message of the same kind was written
// less than every ago.
func (l *logLimiter) log(log *slog.Logger, level slog.Level, kind, msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	if last, ok := l.last[kind]; ok && now.Sub(last) < l.every {
		l.held[kind]++
		l.mu.Unlock()
		return
	}
	held := l.held[kind]
	l.last[kind], l.held[kind] = now, 0
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	log.Log(context.Background(), level, msg, args...)
}
