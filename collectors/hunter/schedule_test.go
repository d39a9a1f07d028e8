package hunter

import (
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

func mustCron(t *testing.T, spec string) rules.Schedule {
	t.Helper()
	s, err := rules.ParseCron(spec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNextRun(t *testing.T) {
	every := func(d time.Duration) rules.Schedule { return rules.Every(d) }
	for _, tc := range []struct {
		name  string
		rule  rules.Rule
		times Times
		want  time.Time
	}{
		{"interval never run: at once", rules.Rule{Schedule: every(time.Hour), TimeRange: time.Hour}, Times{}, t0},
		{"interval: last + frequency", rules.Rule{Schedule: every(time.Hour), TimeRange: time.Hour},
			Times{LastExecuted: t0.Add(-20 * time.Minute)}, t0.Add(40 * time.Minute)},
		{"cron never run: first tick", rules.Rule{Schedule: mustCron(t, "*/15 * * * *"), TimeRange: 15 * time.Minute},
			Times{}, t0.Add(15 * time.Minute)},
		{"cron: tick after last run", rules.Rule{Schedule: mustCron(t, "@hourly"), TimeRange: time.Hour},
			Times{LastExecuted: t0.Add(-time.Minute)}, t0},
		{"full coverage behind: due when a range has passed",
			rules.Rule{Schedule: every(time.Hour), TimeRange: time.Minute, FullCoverage: true},
			Times{LastExecuted: t0, LastEnd: t0.Add(-3 * time.Hour)}, t0.Add(-3*time.Hour + time.Minute)},
		{"full coverage on time: the schedule",
			rules.Rule{Schedule: every(time.Minute), TimeRange: 5 * time.Minute, FullCoverage: true},
			Times{LastExecuted: t0, LastEnd: t0}, t0.Add(time.Minute)},
		{"no full coverage: last_end_time does not hurry it (ACE would run every time_range)",
			rules.Rule{Schedule: every(time.Hour), TimeRange: time.Minute},
			Times{LastExecuted: t0, LastEnd: t0.Add(-3 * time.Hour)}, t0.Add(time.Hour)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NextRun(&tc.rule, tc.times, t0); !got.Equal(tc.want) {
				t.Errorf("next run %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRunWindow(t *testing.T) {
	now := t0.Add(500 * time.Millisecond) // truncated to t0
	fc := rules.Rule{Schedule: rules.Every(time.Minute), TimeRange: 10 * time.Minute, MaxTimeRange: time.Hour, FullCoverage: true}
	for _, tc := range []struct {
		name  string
		rule  rules.Rule
		times Times
		want  search.Window
	}{
		{"no full coverage: the last time_range", rules.Rule{TimeRange: 10 * time.Minute},
			Times{LastEnd: t0.Add(-5 * time.Hour)}, search.Window{Start: t0.Add(-10 * time.Minute), End: t0}},
		{"full coverage, first run", fc, Times{}, search.Window{Start: t0.Add(-10 * time.Minute), End: t0}},
		{"full coverage: from the last end, up to now", fc, Times{LastEnd: t0.Add(-4 * time.Minute)},
			search.Window{Start: t0.Add(-4 * time.Minute), End: t0}},
		{"full coverage: one range behind, one range", fc, Times{LastEnd: t0.Add(-15 * time.Minute)},
			search.Window{Start: t0.Add(-15 * time.Minute), End: t0.Add(-5 * time.Minute)}},
		{"full coverage: two ranges behind, max_time_range", fc, Times{LastEnd: t0.Add(-3 * time.Hour)},
			search.Window{Start: t0.Add(-3 * time.Hour), End: t0.Add(-2 * time.Hour)}},
		{"full coverage: max_time_range capped at now", fc, Times{LastEnd: t0.Add(-25 * time.Minute)},
			search.Window{Start: t0.Add(-25 * time.Minute), End: t0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RunWindow(&tc.rule, tc.times, now); got != tc.want {
				t.Errorf("window %v, want %v", got, tc.want)
			}
		})
	}
	r := rules.Rule{TimeRange: time.Minute, Offset: 5 * time.Minute}
	w := RunWindow(&r, Times{}, now)
	if q := QueryWindow(&r, w); q.Start != t0.Add(-6*time.Minute) || q.End != t0.Add(-5*time.Minute) {
		t.Errorf("offset window %v", q)
	}
}

// After five hours down, a full-coverage hunt catches up in
// max_time_range steps, each due at once, then returns to time_range
// steps on its schedule: the windows tile the whole time with no gap and
// no overlap. Each run takes 10s of the simulated clock.
func TestCatchUpTilesTheDowntime(t *testing.T) {
	r := rules.Rule{Schedule: rules.Every(time.Minute), TimeRange: time.Minute, MaxTimeRange: time.Hour, FullCoverage: true}
	start := t0.Add(-5 * time.Hour)
	times := Times{LastExecuted: start, LastEnd: start}
	now := t0
	var sizes []time.Duration
	for now.Before(t0.Add(10 * time.Minute)) {
		if due := NextRun(&r, times, now); due.After(now) {
			now = due // waiting for the schedule: time passes
		}
		w := RunWindow(&r, times, now)
		if w.Start != times.LastEnd || w.Empty() || w.End.After(now) {
			t.Fatalf("window %v at %v after last end %v", w, now, times.LastEnd)
		}
		sizes = append(sizes, w.End.Sub(w.Start))
		times = Times{LastExecuted: now, LastEnd: w.End}
		now = now.Add(10 * time.Second)
	}
	var hours, minutes, other int
	for _, s := range sizes {
		switch {
		case s == time.Hour:
			hours++
		case s == time.Minute:
			minutes++
		default:
			other++
		}
	}
	// Four whole hours, then the rest of the fifth (at most an hour),
	// then minute after minute.
	if hours < 4 || sizes[0] != time.Hour || sizes[3] != time.Hour || minutes < 8 || other > 1 {
		t.Errorf("window sizes %v", sizes)
	}
}
