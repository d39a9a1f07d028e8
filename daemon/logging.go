package daemon

import (
	"io"
	"log/slog"
	"time"
)

// NewLogger returns the daemon's logger: text or JSON, at level. Durations
// are rendered as strings ("1.5s") by both handlers, where slog's JSON
// handler would print integer nanoseconds.
func NewLogger(w io.Writer, level slog.Leveler, asJSON bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: durationsAsStrings}
	if asJSON {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func durationsAsStrings(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		d := a.Value.Duration()
		if d > time.Second {
			d = d.Round(time.Millisecond)
		}
		return slog.String(a.Key, d.String())
	}
	return a
}
