package groups

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The rate limit of the blocked WARN: on a new reason at once, for the same
// reason at most once per blockedLogEvery, and INFO on clearing when the
// stretch was logged.
func TestBlockerLogsOnChangeAndOncePerMinute(t *testing.T) {
	logs := &bytes.Buffer{}
	b := newBlocker(slog.New(slog.NewTextHandler(logs, nil)))
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	b.now = clk.Now
	count := func(msg string) int { return strings.Count(logs.String(), msg) }
	steps := []struct {
		do         func()
		warn, info int // totals after the step
		reason     string
	}{
		{func() { b.set(nodeLayer, "source", "node source failing: x") }, 1, 0, "node source failing: x"},
		{func() { clk.Advance(10 * time.Second); b.set(nodeLayer, "source", "node source failing: y") }, 1, 0, "node source failing: y"},
		{func() { clk.Advance(50 * time.Second); b.set(nodeLayer, "source", "node source failing: y") }, 2, 0, "node source failing: y"},
		{func() { clk.Advance(time.Second); b.set(nodeLayer, "backoff", "all nodes backing off until t") }, 3, 0, "all nodes backing off until t"},
		{func() { b.set(modeLayer, "mode:m", `no node for analysis mode "m"`) }, 4, 0, "all nodes backing off until t"},
		{func() { b.clear(nodeLayer, "") }, 4, 1, `no node for analysis mode "m"`},
		{func() { b.clear(modeLayer, "mode:other") }, 4, 1, `no node for analysis mode "m"`},
		{func() { b.clear(modeLayer, "mode:m") }, 4, 2, ""},
		// Back within the minute: shown, but neither logged nor its end.
		{func() { clk.Advance(time.Second); b.set(nodeLayer, "backoff", "all nodes backing off until u") }, 4, 2, "all nodes backing off until u"},
		{func() { b.clear(nodeLayer, "") }, 4, 2, ""},
	}
	for i, s := range steps {
		s.do()
		reason, since := b.status()
		if count("delivery blocked") != s.warn || count("delivery unblocked") != s.info || reason != s.reason {
			t.Fatalf("step %d: %d WARN, %d INFO, reason %q; want %d, %d, %q\n%s",
				i, count("delivery blocked"), count("delivery unblocked"), reason, s.warn, s.info, s.reason, logs.String())
		}
		if (reason == "") != since.IsZero() {
			t.Fatalf("step %d: since %v with reason %q", i, since, reason)
		}
	}
	if !strings.Contains(logs.String(), fmt.Sprintf("blocked_for=%s", time.Minute)) {
		t.Fatalf("the repeated WARN does not say how long:\n%s", logs.String())
	}
}
