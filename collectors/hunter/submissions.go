package hunter

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// detailsHead is the first element of a hunt submission's details, as ACE
// writes it ({"search_id", "query"}), with the hunt and window added; the
// events follow it in the list.
type detailsHead struct {
	SearchID string        `json:"search_id"`
	Query    string        `json:"query"`
	Hunt     string        `json:"hunt"`
	HuntType string        `json:"hunt_type"`
	Window   search.Window `json:"window"`
	Matched  int           `json:"matched,omitempty"`
}

// group is one submission being built.
type group struct {
	sub     *collector.Submission
	obs     collector.ObservableSet
	events  []json.RawMessage
	label   string // the group_by value
	grouped bool
}

// build turns a search result into submissions as ACE's query hunter
// does: one per event, or with group_by one per distinct value of that
// field (events without it stay one per event), observables from
// [observable_mapping] (deduplicated, unioned over a group), temporal
// observables carrying their event's time, [directives] applied, the
// earliest event time, and details holding the query and the events.
// Unlike ACE, " (N events)" is added to grouped submissions only.
func (h *Hunter) build(r *rules.Rule, res *search.Result, w search.Window, now time.Time) ([]*collector.Submission, error) {
	var order []*group
	byValue := map[string]*group{}
	for _, ev := range res.Events {
		var g *group
		value, grouped := groupValue(r, ev)
		if grouped {
			g = byValue[value]
		}
		if g == nil {
			g = &group{sub: h.newSubmission(r), label: value, grouped: grouped}
			if grouped {
				byValue[value] = g
			}
			order = append(order, g)
		}
		evTime := ev.Time
		if evTime.IsZero() {
			evTime = now // ACE: an event without a time gets the run's
		}
		if g.sub.EventTime.IsZero() || evTime.Before(g.sub.EventTime) {
			g.sub.EventTime = evTime
		}
		for _, m := range r.Observables {
			for _, v := range search.Values(ev.Fields[m.Field]) {
				o := collector.Observable{Type: m.Type, Value: v, Directives: r.DirectiveNames(m.Field)}
				if r.Temporal[m.Field] {
					o.Time = evTime
				}
				g.obs.Add(o)
			}
		}
		raw := ev.Raw
		if raw == nil {
			b, err := json.Marshal(ev.Fields)
			if err != nil {
				return nil, fmt.Errorf("hunt %s: encoding an event: %w", r.Name, err)
			}
			raw = b
		}
		g.events = append(g.events, raw)
	}
	head := detailsHead{SearchID: res.SearchID, Query: res.Query, Hunt: r.Name, HuntType: h.cfg.HuntType, Window: w}
	if res.Total > len(res.Events) {
		head.Matched = res.Total
	}
	out := make([]*collector.Submission, 0, len(order))
	for _, g := range order {
		if g.grouped {
			g.sub.Description = fmt.Sprintf("%s: %s (%d events)", r.Description, g.label, len(g.events))
		}
		g.sub.Observables = g.obs.List()
		details := make([]any, 0, len(g.events)+1)
		details = append(details, head)
		for _, e := range g.events {
			details = append(details, e)
		}
		if err := g.sub.SetDetails(details); err != nil {
			return nil, err
		}
		out = append(out, g.sub)
	}
	return out, nil
}

// groupValue is the event's group_by value; grouped is false without
// group_by or when the event lacks the field (then it is its own
// submission, which ACE meant to do and never reached).
func groupValue(r *rules.Rule, ev search.Event) (string, bool) {
	if r.GroupBy == "" {
		return "", false
	}
	v, ok := ev.Fields[r.GroupBy]
	if !ok || v == nil {
		return "", false
	}
	return strings.Join(search.Values(v), ","), true
}

// newSubmission is a submission with the rule's fields, the collector's
// as defaults.
func (h *Hunter) newSubmission(r *rules.Rule) *collector.Submission {
	f := h.cfg.Fields
	sub := collector.NewSubmission(r.Description)
	sub.Instructions = r.Description
	sub.AnalysisMode = firstOf(r.AnalysisMode, f.AnalysisMode)
	sub.Queue = firstOf(r.Queue, f.Queue, collector.DefaultQueue)
	sub.Type = firstOf(r.AlertType, f.Type)
	sub.Tool = f.Tool
	sub.ToolInstance = firstOf(f.ToolInstance, h.backend.Instance(), h.g.Hostname)
	sub.Tags = slices.Clone(r.Tags)
	for _, t := range f.Tags {
		if !slices.Contains(sub.Tags, t) {
			sub.Tags = append(sub.Tags, t)
		}
	}
	sub.GroupAssignments = slices.Clone(f.Groups)
	return sub
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
