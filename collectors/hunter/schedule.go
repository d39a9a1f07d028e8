package hunter

import (
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// Times are a hunt's durable timestamps (ACE's hunt table): when its last
// run started, and the end of the last window it covered. Zero: never.
type Times struct {
	LastExecuted time.Time
	LastEnd      time.Time
}

// NextRun is when a hunt is next due, from its rule and times alone (the
// manager adds suppression and failure backoff):
//   - never run: an interval hunt at once (firstSeen, when it was loaded);
//     a cron hunt at its first tick after firstSeen;
//   - otherwise the schedule's next time after the last run;
//   - a full-coverage hunt is also due as soon as a whole time_range has
//     passed since its last window's end, so it catches up after downtime.
//
// ACE applies that catch-up rule to every query hunt, which makes a hunt
// whose frequency is longer than its time_range run every time_range; here
// it applies only with full_coverage, where last_end_time matters.
func NextRun(r *rules.Rule, t Times, firstSeen time.Time) time.Time {
	var next time.Time
	switch {
	case t.LastExecuted.IsZero() && r.Schedule.IsCron():
		next = r.Schedule.Next(firstSeen)
	case t.LastExecuted.IsZero():
		next = firstSeen
	default:
		next = r.Schedule.Next(t.LastExecuted)
	}
	if r.FullCoverage && !t.LastEnd.IsZero() {
		if due := t.LastEnd.Add(r.TimeRange); next.IsZero() || due.Before(next) {
			next = due
		}
	}
	return next
}

// RunWindow is the window a run at now covers, before the offset:
//   - without full coverage, or before the first window: [now-time_range, now];
//   - with full coverage: from the last window's end, time_range long, or
//     max_time_range long when the hunt is two ranges or more behind
//     (catching up after downtime), never past now.
//
// now is truncated to the second so windows have whole-second ends (what
// Splunk's {time_spec} can express) and consecutive windows meet exactly.
func RunWindow(r *rules.Rule, t Times, now time.Time) search.Window {
	now = now.Truncate(time.Second)
	if !r.FullCoverage || t.LastEnd.IsZero() {
		return search.Window{Start: now.Add(-r.TimeRange), End: now}
	}
	start := t.LastEnd
	end := start.Add(r.TimeRange)
	if r.MaxTimeRange > 0 && now.Sub(end) >= r.TimeRange {
		end = start.Add(r.MaxTimeRange)
	}
	if end.After(now) {
		end = now
	}
	return search.Window{Start: start, End: end}
}

// QueryWindow is what the backend searches: the run's window moved back
// by the rule's offset (for logs that arrive late).
func QueryWindow(r *rules.Rule, w search.Window) search.Window { return w.Shift(-r.Offset) }
