package hunter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// HuntStatus is one hunt as `ace-collector hunt list` shows it.
type HuntStatus struct {
	Name     string
	File     string
	Enabled  bool
	Schedule string
	// NextRun is when the daemon will next run it (by the stored times).
	NextRun time.Time
	// LastExecuted and LastWindow are the last stored run (zero: never).
	LastExecuted    time.Time
	LastWindow      search.Window
	SuppressedUntil time.Time
}

// Status reads every loaded hunt's stored times from st (the collector's
// persistence keys) and computes its next run as of now.
func (h *Hunter) Status(ctx context.Context, st collector.State, now time.Time) ([]HuntStatus, error) {
	var out []HuntStatus
	for _, r := range h.Rules() {
		t, until, err := loadTimes(ctx, st, r.Name)
		if err != nil {
			return nil, err
		}
		s := HuntStatus{Name: r.Name, File: r.Path, Enabled: r.Enabled, Schedule: r.Schedule.String(),
			LastExecuted: t.LastExecuted, LastWindow: search.Window{End: t.LastEnd}}
		if v, ok, err := st.Get(ctx, stateKey(r.Name, keyLastStart)); err == nil && ok {
			s.LastWindow.Start, _ = parseTime(v)
		}
		hs := &hunt{rule: r, times: t, firstSeen: now, notBefore: until}
		s.NextRun = hs.next()
		if until.After(now) {
			s.SuppressedUntil = until
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// ManualWindow is the window of a manual run: both ends given, or from
// start to now, or time_range before end, or the last time_range.
func ManualWindow(timeRange time.Duration, start, end time.Time, now time.Time) search.Window {
	switch {
	case !start.IsZero() && !end.IsZero():
		return search.Window{Start: start, End: end}
	case !start.IsZero():
		return search.Window{Start: start, End: now.Truncate(time.Second)}
	case !end.IsZero():
		return search.Window{Start: end.Add(-timeRange), End: end}
	}
	now = now.Truncate(time.Second)
	return search.Window{Start: now.Add(-timeRange), End: now}
}

// Execute runs hunt name once, as ACE's `hunt execute` does: no offset,
// nothing recorded, the submissions returned rather than stored. start
// and end may be zero (see ManualWindow); the window used is returned.
func (h *Hunter) Execute(ctx context.Context, name string, start, end time.Time, log *slog.Logger) ([]*collector.Submission, search.Window, error) {
	r, ok := h.Rule(name)
	if !ok {
		return nil, search.Window{}, fmt.Errorf("no %s hunt named %q is loaded (see `ace-collector hunt list`)", h.cfg.HuntType, name)
	}
	now := time.Now()
	w := ManualWindow(r.TimeRange, start, end, now)
	if w.Empty() {
		return nil, w, fmt.Errorf("the window %s is empty: the end must be after the start", w)
	}
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	env := &collector.Env{Name: "manual", Kind: Kind, Log: log, Stats: collector.NewStats(), Global: h.g}
	defer h.backend.Close()
	subs, err := h.search(ctx, env, r, w, now)
	return subs, w, err
}

// ParseTime reads a time given on the command line: RFC 3339, or ACE's
// MM/DD/YYYY:HH:MM:SS in loc.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	t, err := time.ParseInLocation("01/02/2006:15:04:05", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 (2024-05-01T10:00:00Z) or MM/DD/YYYY:HH:MM:SS", s)
	}
	return t, nil
}

// Instance is a configured hunter collector.
type Instance struct {
	Name   string // NAME of [collector_NAME]
	Hunter *Hunter
}

// Instances picks the hunters out of a configuration's collectors.
func Instances(cs []collector.Instance) []Instance {
	var out []Instance
	for _, c := range cs {
		if h, ok := c.Collector.(*Hunter); ok {
			out = append(out, Instance{Name: c.Name, Hunter: h})
		}
	}
	return out
}

// Find returns the hunter holding hunt TYPE:NAME (ACE's notation); in
// names the collector when several hunters of that type have the hunt.
func Find(cs []collector.Instance, spec, in string) (Instance, string, error) {
	typ, name, ok := strings.Cut(spec, ":")
	if !ok || typ == "" || name == "" {
		return Instance{}, "", fmt.Errorf("%q: want TYPE:NAME, e.g. sql:failed_logins", spec)
	}
	var found []Instance
	for _, inst := range Instances(cs) {
		if inst.Hunter.HuntType() != typ || (in != "" && inst.Name != in) {
			continue
		}
		if _, ok := inst.Hunter.Rule(name); ok {
			found = append(found, inst)
		}
	}
	switch len(found) {
	case 0:
		return Instance{}, "", fmt.Errorf("no enabled %s hunter has a hunt named %q (see `ace-collector hunt list`)", typ, name)
	case 1:
		return found[0], name, nil
	}
	var names []string
	for _, f := range found {
		names = append(names, f.Name)
	}
	return Instance{}, "", fmt.Errorf("hunt %s is in several collectors (%s): name one with --collector", spec, strings.Join(names, ", "))
}

// ParseWindow parses a manual run's --start and --end (either may be
// empty: the hunt's own window), ACE's MM/DD/YYYY:HH:MM:SS read in time
// zone tz (an IANA name, or Local).
func ParseWindow(start, end, tz string) (from, to time.Time, err error) {
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return from, to, fmt.Errorf("-z %q: %w", tz, err)
	}
	if start != "" {
		if from, err = ParseTime(start, loc); err != nil {
			return from, to, fmt.Errorf("--start: %w", err)
		}
	}
	if end != "" {
		if to, err = ParseTime(end, loc); err != nil {
			return from, to, fmt.Errorf("--end: %w", err)
		}
	}
	return from, to, nil
}
