package syslog

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// dropLogInterval is how often each kind of drop is logged at most.
const dropLogInterval = 10 * time.Second

// logLimiter logs at most one line per reason and interval, so that a
// sender of garbage cannot flood the log, and says how many lines it held
// back since the last one ("suppressed"). The counters count every drop.
type logLimiter struct {
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu   sync.Mutex
	last map[string]time.Time
	held map[string]int
}

func newLogLimiter(log *slog.Logger, interval time.Duration) *logLimiter {
	return &logLimiter{log: log, interval: interval, now: time.Now,
		last: map[string]time.Time{}, held: map[string]int{}}
}

// logf logs msg at level unless a line of the same reason was logged
// less than the interval ago.
func (l *logLimiter) logf(level slog.Level, reason, msg string, args ...any) {
	l.mu.Lock()
	now := l.now()
	if t, ok := l.last[reason]; ok && now.Sub(t) < l.interval {
		l.held[reason]++
		l.mu.Unlock()
		return
	}
	held := l.held[reason]
	l.held[reason], l.last[reason] = 0, now
	l.mu.Unlock()
	if held > 0 {
		args = append(args, "suppressed", held)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
