package hunter

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

func TestBuildSubmissions(t *testing.T) {
	db := newEventDB(t, nil)
	h := newSQLHunter(t, t.TempDir(), db, "tags = hunt, auth\ngroup_assignments = main\n")
	r := &rules.Rule{
		Name: "logins", Description: "Failed logins", GroupBy: "user", Tags: []string{"auth"}, AlertType: "hunter - sql - logins",
		Observables: []rules.Mapping{{Field: "user", Type: "user"}, {Field: "ip", Type: "ipv4"}, {Field: "hosts", Type: "hostname"}},
		Temporal:    map[string]bool{"ip": true},
		Directives:  map[string][]rules.Directive{"ip": {{Name: "no_scan"}}},
	}
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	ev := func(s int, f map[string]any) search.Event {
		raw, _ := json.Marshal(f)
		return search.Event{Fields: f, Time: at(s), Raw: raw}
	}
	res := &search.Result{Query: "SELECT ...", Total: 5, Events: []search.Event{
		ev(30, map[string]any{"user": "alice", "ip": "10.0.0.1", "hosts": []any{"h1", "h2"}}),
		ev(10, map[string]any{"user": "alice", "ip": "10.0.0.2"}),
		ev(20, map[string]any{"ip": "10.0.0.9"}), // no group field: its own submission
		ev(40, map[string]any{"user": "bob", "ip": "10.0.0.1"}),
		{Fields: map[string]any{"user": "alice", "ip": "10.0.0.1"}}, // no time: the run's
	}}
	w := search.Window{Start: t0.Add(-time.Minute), End: t0}
	now := t0.Add(time.Hour)
	subs, err := h.build(r, res, w, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 3 {
		t.Fatalf("%d submissions, want 3 (alice, the ungrouped event, bob)", len(subs))
	}
	alice, lone, bob := subs[0], subs[1], subs[2]
	if alice.Description != "Failed logins: alice (3 events)" || bob.Description != "Failed logins: bob (1 events)" ||
		lone.Description != "Failed logins" {
		t.Errorf("descriptions %q, %q, %q", alice.Description, lone.Description, bob.Description)
	}
	if !alice.EventTime.Equal(at(10)) || !lone.EventTime.Equal(at(20)) {
		t.Errorf("event times %v, %v: want the earliest event's", alice.EventTime, lone.EventTime)
	}
	wantObs := []collector.Observable{
		{Type: "user", Value: "alice"},
		{Type: "ipv4", Value: "10.0.0.1", Time: at(30), Directives: []string{"no_scan"}},
		{Type: "hostname", Value: "h1"}, {Type: "hostname", Value: "h2"},
		{Type: "ipv4", Value: "10.0.0.2", Time: at(10), Directives: []string{"no_scan"}},
	}
	if !reflect.DeepEqual(alice.Observables, wantObs) {
		t.Errorf("observables\n got %+v\nwant %+v", alice.Observables, wantObs)
	}
	for _, s := range subs {
		if s.Tool != "hunter-sql" || s.Type != "hunter - sql - logins" || s.AnalysisMode != "correlation" ||
			s.Queue != "default" || s.Instructions != "Failed logins" || s.ToolInstance != "sqlite:"+db ||
			!reflect.DeepEqual(s.Tags, []string{"auth", "hunt"}) || !reflect.DeepEqual(s.GroupAssignments, []string{"main"}) {
			t.Errorf("fields %+v", s)
		}
		if err := s.Validate(); err != nil {
			t.Error(err)
		}
	}
	var details []json.RawMessage
	if err := json.Unmarshal(alice.Details, &details); err != nil || len(details) != 4 {
		t.Fatalf("details %s: %v", alice.Details, err)
	}
	var head detailsHead
	json.Unmarshal(details[0], &head)
	if head.Query != "SELECT ..." || head.Hunt != "logins" || head.Window != w || head.Matched != 0 || head.HuntType != "sql" {
		t.Errorf("details head %+v", head)
	}
	if string(details[1]) != `{"hosts":["h1","h2"],"ip":"10.0.0.1","user":"alice"}` {
		t.Errorf("first event %s", details[1])
	}
}

// Without group_by: one submission per event, no " (N events)".
func TestBuildOnePerEvent(t *testing.T) {
	h := newSQLHunter(t, t.TempDir(), newEventDB(t, nil), "")
	r := &rules.Rule{Name: "x", Description: "X", Observables: []rules.Mapping{{Field: "ip", Type: "ipv4"}}, AnalysisMode: "analysis", Queue: "q"}
	res := &search.Result{Total: 2, Events: []search.Event{
		{Fields: map[string]any{"ip": "10.0.0.1"}}, {Fields: map[string]any{"ip": "10.0.0.1", "n": 1}},
	}}
	subs, err := h.build(r, res, search.Window{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(subs) != 2 || subs[0].Description != "X" || subs[1].Description != "X" || subs[0].AnalysisMode != "analysis" || subs[0].Queue != "q" ||
		subs[0].Type != "hunter - sql" || !subs[0].EventTime.Equal(t0) {
		t.Errorf("submissions %+v", subs)
	}
}
