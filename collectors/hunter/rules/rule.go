// Package rules reads ACE hunt rule files: an INI file with a [rule]
// section (type, enabled, name, description, frequency, time_range,
// search or query, ...) and the [observable_mapping], [temporal_fields] and
// [directives] sections, with ACE's keys and defaults, so a rule directory
// written for ACE's hunter loads unchanged. It fixes what ACE gets wrong
// (see ace.md §6 and §10): [temporal_fields] and [directives] are optional,
// "field = no" is not temporal, directive options parse, a cron frequency
// without time_range gets a window, and every problem names its file and
// key instead of stopping the manager.
package rules

import (
	"errors"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Rule is one loaded hunt rule.
type Rule struct {
	// Path is the rule file; Files are every file the rule was built from
	// (the rule file, its search file, files a backend included), so a
	// change to any of them reloads this rule.
	Path  string
	Files []string

	Type         string
	Enabled      bool
	Name         string
	Description  string
	AlertType    string // "" means the collector's (ACE: "hunter - TYPE")
	AnalysisMode string // "" means the collector's (ACE: correlation)
	Queue        string // "" means the collector's (ACE: default)
	Tags         []string

	Schedule    Schedule
	Suppression time.Duration

	TimeRange      time.Duration
	MaxTimeRange   time.Duration
	FullCoverage   bool
	Offset         time.Duration
	GroupBy        string
	UseIndexTime   bool
	MaxResultCount int
	QueryTimeout   time.Duration

	// SearchPath is the resolved `search` file ("" for an inline query).
	SearchPath string
	// Query is the query text: the inline `query`, or the search file with
	// its "#" comment lines removed. Backends may rewrite it when they
	// prepare the rule (Splunk expands <include:...>).
	Query string

	// Splunk namespace (splunk_app_context, splunk_user_context; "-" is
	// the wildcard, ACE's default).
	SplunkApp  string
	SplunkUser string
	// Extensions of this project (ACE rule files do not set them): the
	// index pattern an Elasticsearch rule searches and the field holding
	// an event's time; "" means the collector's default.
	Index     string
	TimeField string

	Observables []Mapping
	// Temporal fields: an observable from one of them carries the event's
	// time.
	Temporal   map[string]bool
	Directives map[string][]Directive

	// Warnings are problems that do not stop the rule (unknown keys).
	Warnings []string
}

// Mapping maps an event field to an ACE observable type.
type Mapping struct {
	Field string
	Type  string
}

// Directive is an ACE directive with its options (d:name=value:...).
type Directive struct {
	Name    string
	Options map[string]string
}

// DirectiveNames lists the directives of field.
func (r *Rule) DirectiveNames(field string) []string {
	var out []string
	for _, d := range r.Directives[field] {
		out = append(out, d.Name)
	}
	return out
}

// Schedule is a rule's frequency: a fixed interval ([DD:]HH:MM:SS) or a
// cron expression (robfig/cron's standard parser: five fields, or a
// descriptor such as @hourly or @every 90m).
type Schedule struct {
	Interval time.Duration // > 0 for an interval
	Spec     string        // the cron expression, "" for an interval
	cron     cron.Schedule
}

// IsCron reports whether the schedule is a cron expression.
func (s Schedule) IsCron() bool { return s.cron != nil }

// Next is the first run after a run at last: last + interval, or the
// first cron tick after last.
func (s Schedule) Next(last time.Time) time.Time {
	if s.cron != nil {
		return s.cron.Next(last)
	}
	return last.Add(s.Interval)
}

// String is how the schedule was written.
func (s Schedule) String() string {
	if s.cron != nil {
		return s.Spec
	}
	return s.Interval.String()
}

// ParseCron parses a cron expression with robfig/cron's standard parser.
func ParseCron(spec string) (Schedule, error) {
	c, err := cron.ParseStandard(spec)
	if err != nil {
		return Schedule{}, fmt.Errorf("cron expression %q: %w", spec, err)
	}
	return Schedule{Spec: spec, cron: c}, nil
}

// Every returns an interval schedule.
func Every(d time.Duration) Schedule { return Schedule{Interval: d} }

// cronGap is the default time range of a cron hunt: the shortest gap
// between consecutive ticks over a fixed stretch of the calendar (so the
// same rule always gets the same value). ACE defaults time_range to the
// frequency, which for a cron hunt is nothing and breaks the hunt.
func cronGap(s Schedule) time.Duration {
	t := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	t = s.Next(t)
	var gap time.Duration
	for range 64 {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); gap == 0 || d < gap {
			gap = d
		}
		t = n
	}
	return gap
}

// Error is a problem with a rule file, named by file, section and key.
type Error struct {
	File    string
	Section string
	Key     string
	Msg     string
}

func (e *Error) Error() string {
	switch {
	case e.Section == "":
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Key == "":
		return fmt.Sprintf("%s: [%s]: %s", e.File, e.Section, e.Msg)
	}
	return fmt.Sprintf("%s: [%s] %s: %s", e.File, e.Section, e.Key, e.Msg)
}

// ErrOtherType is wrapped by the error of a rule whose type is not the
// type being loaded: ACE skips such files rather than failing them.
var ErrOtherType = errors.New("rule of another hunt type")

// Errors lists the *Error values in err (a single one or a join).
func Errors(err error) []*Error {
	var out []*Error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var re *Error
		if errors.As(e, &re) {
			out = append(out, re)
		}
	}
	if err != nil {
		walk(err)
	}
	return out
}
