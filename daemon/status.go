package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ace-collector/ace-collector/persistence"
)

// Report is what /status.json serves and `status` prints.
type Report struct {
	Instance string        `json:"instance"`
	Version  string        `json:"version"`
	Time     time.Time     `json:"time"`
	Backlog  int64         `json:"backlog"`
	Queue    []QueueCount  `json:"queue"`
	Counters []CounterItem `json:"counters"`
	Groups   []GroupItem   `json:"groups"`
	Routing  []RoutingItem `json:"routing_rules,omitempty"`
	Nodes    []NodeItem    `json:"nodes"`
	Errors   []ErrorItem   `json:"recent_errors"`
	Health   *HealthReport `json:"health,omitempty"`
}

// QueueCount is the number of (submission, group) pairs in one state.
type QueueCount struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Skipped bool   `json:"coverage_skipped"`
	Parked  bool   `json:"parked"`
	Count   int64  `json:"count"`
}

// CounterItem is one counter.
type CounterItem struct {
	Scope string `json:"scope"`
	Event string `json:"event"`
	Value int64  `json:"value"`
}

// GroupItem is one collection group and what, if anything, holds it up.
type GroupItem struct {
	Name         string     `json:"name"`
	Type         string     `json:"type"`
	Blocked      string     `json:"blocked,omitempty"`
	BlockedSince *time.Time `json:"blocked_since,omitempty"`
}

// RoutingItem is one routing rule and how many submissions it matched
// since the start.
type RoutingItem struct {
	Rule    string   `json:"rule"`
	Groups  []string `json:"groups"`
	Matched int64    `json:"matched"`
}

// NodeItem is one node's delivery health.
type NodeItem struct {
	Node      string     `json:"node"`
	Location  string     `json:"location"`
	InFlight  int        `json:"in_flight"`
	Failures  int        `json:"failures"`
	DownUntil *time.Time `json:"backing_off_until,omitempty"`
}

// ErrorItem is one failed delivery.
type ErrorItem struct {
	UUID      string    `json:"uuid"`
	Group     string    `json:"group"`
	Attempts  int       `json:"attempts"`
	Parked    bool      `json:"parked"`
	LastError string    `json:"last_error"`
	UpdatedAt time.Time `json:"updated_at"`
}

// StoreReport reads the queue part of a report from a store alone (the
// `status` command when no daemon answers).
func StoreReport(ctx context.Context, store *persistence.Store, instance, version string) (*Report, error) {
	r := &Report{Instance: instance, Version: version, Time: time.Now()}
	var err error
	if r.Backlog, err = store.Backlog(ctx); err != nil {
		return nil, err
	}
	counts, err := store.Counts(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range counts {
		r.Queue = append(r.Queue, QueueCount{Group: q.Group, State: q.Status, Skipped: q.Skipped, Parked: q.Parked, Count: q.Count})
	}
	errs, err := store.Errors(ctx, 20)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		r.Errors = append(r.Errors, ErrorItem{UUID: e.UUID, Group: e.Group, Attempts: e.Attempts, Parked: e.Parked,
			LastError: e.LastError, UpdatedAt: time.UnixMilli(e.UpdatedAt)})
	}
	return r, nil
}

// Report builds the live status report.
func (d *Daemon) Report(ctx context.Context) (*Report, error) {
	r, err := StoreReport(ctx, d.store, d.cfg.Instance, d.o.Version)
	if err != nil {
		return nil, err
	}
	for _, c := range d.stats.Snapshot() {
		r.Counters = append(r.Counters, CounterItem{Scope: c.Scope, Event: c.Event, Value: c.Value})
	}
	for _, n := range d.mgr.Nodes() {
		it := NodeItem{Node: n.Name, Location: n.Location, InFlight: n.InFlight, Failures: n.Failures}
		if time.Now().Before(n.DownUntil) {
			t := n.DownUntil
			it.DownUntil = &t
		}
		r.Nodes = append(r.Nodes, it)
	}
	for _, g := range d.mgr.Groups() {
		it := GroupItem{Name: g.Name, Type: g.Type, Blocked: g.Blocked}
		if g.Blocked != "" {
			since := g.BlockedSince
			it.BlockedSince = &since
		}
		r.Groups = append(r.Groups, it)
	}
	for _, rule := range d.rt.RoutingRules() {
		r.Routing = append(r.Routing, RoutingItem{Rule: rule.Name, Groups: rule.Groups,
			Matched: d.stats.Get("routing_rule:"+rule.Name, "matched")})
	}
	r.Health = d.Health(ctx)
	return r, nil
}

// WriteText prints the report for people.
func (r *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "ace-collector %s  instance %s  at %s\n\n", r.Version, r.Instance, r.Time.Format(time.RFC3339))
	if r.Health != nil {
		fmt.Fprintf(w, "health: %s\n", r.Health.Status)
		for _, p := range r.Health.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "submissions stored: %d\n\n", r.Backlog)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tCOUNT")
	for _, q := range r.Queue {
		state := q.State
		if q.Skipped {
			state += " (coverage skip)"
		}
		if q.Parked {
			state += " (parked)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\n", q.Group, state, q.Count)
	}
	tw.Flush()
	for _, g := range r.Groups {
		if g.Blocked != "" {
			fmt.Fprintf(w, "group %s is blocked since %s: %s\n", g.Name, g.BlockedSince.Format(time.RFC3339), g.Blocked)
		}
	}
	if len(r.Routing) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ROUTING RULE\tGROUPS\tMATCHED")
		for _, rr := range r.Routing {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", rr.Rule, strings.Join(rr.Groups, ", "), rr.Matched)
		}
		tw.Flush()
	}
	if len(r.Nodes) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NODE\tLOCATION\tIN FLIGHT\tFAILURES\tBACKING OFF UNTIL")
		for _, n := range r.Nodes {
			until := "-"
			if n.DownUntil != nil {
				until = n.DownUntil.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", n.Node, n.Location, n.InFlight, n.Failures, until)
		}
		tw.Flush()
	}
	if len(r.Counters) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SCOPE\tEVENT\tCOUNT")
		for _, c := range r.Counters {
			fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Scope, c.Event, c.Value)
		}
		tw.Flush()
	}
	if len(r.Errors) > 0 {
		fmt.Fprintln(w, "\nrecent errors (ace-collector queue retry -c FILE puts them back):")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s  group %s  attempts %d  %s\n", e.UUID, e.Group, e.Attempts, OneLine(e.LastError, 200))
		}
	}
}

// OneLine folds s to one line of at most max bytes.
func OneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

// Handler serves /status, /status.json, /metrics, /healthz and the live
// view (/live), behind status_token when one is set.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	d.liveRoutes(mux)
	mux.Handle("GET /metrics", d.metrics.handler())
	report := func(w http.ResponseWriter, r *http.Request) *Report {
		rep, err := d.Report(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return nil
		}
		return rep
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		if rep := report(w, r); rep != nil {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			rep.WriteText(w)
		}
	})
	mux.HandleFunc("GET /status.json", func(w http.ResponseWriter, r *http.Request) {
		if rep := report(w, r); rep != nil {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(rep)
		}
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		h := d.Health(r.Context())
		w.Header().Set("Content-Type", "application/json")
		if h.Status != "ok" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		json.NewEncoder(w).Encode(h)
	})
	return d.authorize(mux)
}
