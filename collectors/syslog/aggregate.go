package syslog

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// maxAggregateObservables bounds the observables one aggregate carries.
const maxAggregateObservables = 1000

// aggregator groups selected events by rule and the rule's aggregate_by
// fields for aggregate_window, then submits one submission per group with
// the count and the first aggregate_max_events events.
type aggregator struct {
	r   *run
	now func() time.Time

	mu     sync.Mutex
	groups map[string]*group
}

type group struct {
	key         map[string]string
	rule        string
	first, last time.Time // event times
	deadline    time.Time // wall clock: first arrival + window
	count       int
	events      []*Event
	obs         collector.ObservableSet
}

func newAggregator(r *run) *aggregator {
	return &aggregator{r: r, now: time.Now, groups: map[string]*group{}}
}

// keyOf returns the aggregation key of ev selected by rule: the rule
// and the values of its aggregate_by fields. ok is false when ev is not
// to be aggregated: no fields for the rule, or every field empty (events
// that share nothing would otherwise be merged: every plain syslog line
// has no "signature" and no "src").
func (a *aggregator) keyOf(ev *Event, rule string) (key string, vals map[string]string, ok bool) {
	by := a.r.cfg.aggregateBy(rule)
	vals = make(map[string]string, len(by))
	var b strings.Builder
	b.WriteString(rule)
	for _, f := range by {
		v, _ := ev.Field(f)
		vals[f] = v
		b.WriteByte(0)
		b.WriteString(v)
		ok = ok || v != ""
	}
	return b.String(), vals, ok
}

// add puts ev into its group and reports true, or reports false when ev
// is not to be aggregated (see keyOf). When aggregate_max_keys groups
// are open, the one closest to its deadline is submitted early to make
// room.
func (a *aggregator) add(ev *Event, rule string) bool {
	k, vals, ok := a.keyOf(ev, rule)
	if !ok {
		if len(vals) > 0 {
			a.r.env.Count("aggregate_key_empty", 1)
		}
		return false
	}
	var evict *group
	a.mu.Lock()
	g, ok := a.groups[k]
	if !ok {
		if len(a.groups) >= a.r.cfg.AggregateMaxKeys {
			var ek string
			for gk, cand := range a.groups {
				if evict == nil || cand.deadline.Before(evict.deadline) {
					evict, ek = cand, gk
				}
			}
			delete(a.groups, ek)
		}
		g = &group{key: vals, rule: rule, first: ev.EventTime(), last: ev.EventTime(),
			deadline: a.now().Add(a.r.cfg.AggregateWindow)}
		a.groups[k] = g
	}
	g.count++
	t := ev.EventTime()
	if t.Before(g.first) {
		g.first = t
	}
	if t.After(g.last) {
		g.last = t
	}
	if len(g.events) < a.r.cfg.AggregateMaxEvents {
		g.events = append(g.events, ev)
	}
	if g.obs.Len() < maxAggregateObservables {
		ev.observables(&g.obs)
	}
	a.mu.Unlock()
	if evict != nil {
		a.r.env.Count("aggregate_evicted", 1)
		a.submit(evict)
	}
	return true
}

// flushLoop submits groups whose window ended until ctx is done.
func (a *aggregator) flushLoop(ctx context.Context) {
	tick := min(max(a.r.cfg.AggregateWindow/10, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.flush(false)
		}
	}
}

// flushAll submits every pending group (at shutdown).
func (a *aggregator) flushAll(context.Context) { a.flush(true) }

func (a *aggregator) flush(all bool) {
	now := a.now()
	var due []*group
	a.mu.Lock()
	for k, g := range a.groups {
		if all || !now.Before(g.deadline) {
			due = append(due, g)
			delete(a.groups, k)
		}
	}
	a.mu.Unlock()
	for _, g := range due {
		a.submit(g)
	}
}

func (a *aggregator) submit(g *group) {
	title := g.events[0].Title()
	if g.count > 1 {
		title = fmt.Sprintf("%s (%d events)", title, g.count)
	}
	sub := a.r.newSubmission(title, g.first)
	obs := g.obs.List()
	if len(obs) > maxAggregateObservables {
		obs = obs[:maxAggregateObservables]
	}
	sub.Observables = obs
	err := sub.SetDetails(map[string]any{
		"rule":           g.rule,
		"aggregate_key":  g.key,
		"window":         a.r.cfg.AggregateWindow.String(),
		"count":          g.count,
		"first_time":     g.first,
		"last_time":      g.last,
		"events":         g.events,
		"events_omitted": g.count - len(g.events),
	})
	if err != nil {
		a.r.env.Drop("invalid", int64(g.count))
		a.r.env.Log.Error("building aggregate submission", "error", err)
		return
	}
	a.r.env.Count("aggregated_events", int64(g.count))
	a.r.submit(sub)
}
