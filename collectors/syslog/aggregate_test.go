package syslog

import (
	"encoding/json"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

type aggDetails struct {
	Rule         string
	Count        int
	Events       []Event
	AggregateKey map[string]string `json:"aggregate_key"`
}

// sampleBody is the shipped sample's section with test listeners, a
// window that does not end during the test, and no type/enabled (which
// the daemon reads, not the kind).
func sampleBody(t *testing.T) string {
	t.Helper()
	body := string(sampleConfig)
	_, body, ok := strings.Cut(body, "[collector_syslog_in]\n")
	if !ok {
		t.Fatal("sample has no [collector_syslog_in]")
	}
	for _, r := range []struct{ re, with string }{
		{`(?m)^(type|enabled) = .*$`, ""},
		{`(?m)^listen_(udp|tcp) = .*$`, "listen_$1 = 127.0.0.1:0"},
		{`(?m)^aggregate_window = .*$`, "aggregate_window = 1h"},
	} {
		re := regexp.MustCompile(r.re)
		if !re.MatchString(body) {
			t.Fatalf("sample has no line matching %s", r.re)
		}
		body = re.ReplaceAllString(body, r.with)
	}
	return body
}

// TestSampleAggregatesSSHPerAttacker runs the shipped sample: SSH
// failures from two attackers against three hosts become one submission
// per attacker, not one for the window (issue 16 item 3), each with the
// attacker's address tagged src and the accounts tried.
func TestSampleAggregatesSSHPerAttacker(t *testing.T) {
	lines := loadLines(t)
	s := start(t, sampleBody(t))
	sendLines(t, s, lines, "sshd-1", "sshd-2", "sshd-3", "sshd-4", "sshd-5", "sshd-accepted")
	s.waitCount(t, "accepted", 5)
	s.waitCount(t, "dropped_not_selected", 1)
	s.stop(t)
	subs := s.sink.Submissions()
	if len(subs) != 2 {
		for _, sub := range subs {
			t.Logf("%s %s", sub.Description, sub.Details)
		}
		t.Fatalf("%d submissions, want one per attacker (2)", len(subs))
	}
	want := map[string]struct {
		count int
		obs   string
	}{
		"203.0.113.9":   {3, "ipv4=203.0.113.9 user=admin user=root"},
		"198.51.100.77": {2, "ipv4=198.51.100.77 user=postgres user=root"},
	}
	for _, sub := range subs {
		var det aggDetails
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		src := det.AggregateKey["src"]
		w, ok := want[src]
		if !ok || det.Rule != "ssh_fail" || det.Count != w.count || len(det.AggregateKey) != 1 {
			t.Errorf("aggregate %s: rule %q count %d key %v", sub.Description, det.Rule, det.Count, det.AggregateKey)
			continue
		}
		delete(want, src)
		if got := strings.Join(sortedObs(sub), " "); got != w.obs {
			t.Errorf("%s observables %q, want %q", src, got, w.obs)
		}
		for _, o := range sub.Observables {
			if o.Type == "ipv4" && (len(o.Tags) != 1 || o.Tags[0] != "src") {
				t.Errorf("%s tags %v, want src", o.Value, o.Tags)
			}
		}
		for _, ev := range det.Events {
			if ev.Extracted["src"] != src || ev.Extracted["spt"] == "" {
				t.Errorf("event extracted %v", ev.Extracted)
			}
		}
	}
}

// TestAggregationEmptyKeyNotMerged: events whose aggregate_by fields are
// all empty (plain syslog has no signature and no src) are submitted one
// by one, not merged with each other.
func TestAggregationEmptyKeyNotMerged(t *testing.T) {
	lines := loadLines(t)
	s := start(t, `listen_tcp = 127.0.0.1:0
rule_ssh = app_name = sshd && message ~ Failed password
aggregate_by = signature,src
aggregate_window = 1h`)
	sendLines(t, s, lines, "sshd-1", "sshd-3", "sshd-4")
	subs := waitSubs(t, s.sink, 3) // before the window ends: not aggregated
	s.waitCount(t, "aggregate_key_empty", 3)
	for _, sub := range subs {
		if strings.Contains(sub.Description, "events)") {
			t.Errorf("merged: %s", sub.Description)
		}
	}
}

// TestAggregateByPerRule: aggregate_by_<rule> replaces aggregate_by for
// that rule (empty: one submission per event), and events of different
// rules are not merged even when their keys agree.
func TestAggregateByPerRule(t *testing.T) {
	s := start(t, `listen_tcp = 127.0.0.1:0
rule_a = message ~ ^alpha
rule_b = message ~ ^beta
rule_c = message ~ ^gamma
aggregate_by = hostname
aggregate_by_b =
aggregate_window = 1h`)
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	for _, m := range []string{"alpha 1", "alpha 2", "beta 1", "beta 2", "gamma 1", "gamma 2"} {
		if _, err := tcp.Write([]byte("<13>Nov 23 23:30:00 h1 app: " + m + "\n")); err != nil {
			t.Fatal(err)
		}
	}
	waitSubs(t, s.sink, 2) // rule b's two events, one by one
	s.waitCount(t, "accepted", 6)
	s.stop(t)
	got := map[string][]int{} // rule -> events per submission
	for _, sub := range s.sink.Submissions() {
		var det aggDetails
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		got[det.Rule] = append(got[det.Rule], max(det.Count, 1)) // a single event's details have no count
	}
	want := map[string][]int{"a": {2}, "b": {1, 1}, "c": {2}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events per submission by rule: %v, want %v", got, want)
	}
}
