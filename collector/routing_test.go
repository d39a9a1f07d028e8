package collector_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

func parseRouting(t *testing.T, conf string) ([]*collector.RoutingRule, string) {
	t.Helper()
	f, err := ini.Load([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := &collector.Problems{}
	cf := collector.NewConfigFile(f, p)
	rules := collector.ParseRouting(cf)
	cf.Done()
	if err := p.Err(); err != nil {
		return rules, err.Error()
	}
	return rules, ""
}

func TestParseRoutingProblems(t *testing.T) {
	for _, tt := range []struct {
		conf, want string // want: a fragment of the problems, "" for none
		rules      int
	}{
		{"[routing_rule_a]\ntarget = tool\nregex = ^x\ngroups = g\n", "", 1},
		{"[routing_rule_a]\ntarget = observable:ipv4\nregex = ^10\\.\ngroups = g, h\n", "", 1},
		{"[routing_rule_a]\ncollectors = mail\ngroups = g\n", "", 1},
		{"[routing_rule_a]\nregex = x\ngroups = g\nenabled = no\n", "", 0},
		{"[routing_rule_a]\nregex = x\n", "groups: required", 0},
		{"[routing_rule_a]\ngroups = g\n", "regex: required unless collectors", 0},
		{"[routing_rule_a]\ntarget = subject\nregex = x\ngroups = g\n", `"subject" is not one of`, 0},
		{"[routing_rule_a]\nregex = (\ngroups = g\n", "bad regular expression", 0},
		{"[routing_rule_a]\nregex = x\ngroups = g\ngroup = h\n", `unknown key (did you mean "groups"?)`, 1},
	} {
		rules, got := parseRouting(t, tt.conf)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%q: problems %q, want %q", tt.conf, got, tt.want)
		}
		if len(rules) != tt.rules {
			t.Errorf("%q: %d rules, want %d", tt.conf, len(rules), tt.rules)
		}
	}
}

// routedRuntime is a runtime over a real store with groups a, b and c
// (c marked default unless noDefault) and the given rules.
func routedRuntime(t *testing.T, rulesINI string, noDefault bool) (*collector.Runtime, *persistence.Store, *collector.Stats) {
	t.Helper()
	rules, problems := parseRouting(t, rulesINI)
	if problems != "" {
		t.Fatal(problems)
	}
	dir := t.TempDir()
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	stats := collector.NewStats()
	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue: store, IncomingDir: filepath.Join(dir, "incoming"), Stats: stats,
		Groups: []collector.GroupTarget{{Name: "a", Coverage: 100}, {Name: "b", Coverage: 100},
			{Name: "c", Coverage: 100, Default: !noDefault}},
		Routing: rules,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt, store, stats
}

// groupsOf submits sub through collector name and returns the groups it
// was queued for, read back from the store.
func groupsOf(t *testing.T, rt *collector.Runtime, store *persistence.Store, name string, sub *collector.Submission) []string {
	t.Helper()
	count := func() map[string]int64 {
		counts, err := store.Counts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		for _, c := range counts {
			out[c.Group] += c.Count
		}
		return out
	}
	before := count()
	if err := rt.Sink(name, "test", nil).Submit(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	var got []string
	for g, n := range count() {
		if n > before[g] {
			got = append(got, g)
		}
	}
	slices.Sort(got)
	return got
}

const routingRules = `
[routing_rule_internal]
target = observable:ipv4
regex = ^10\.
groups = a
[routing_rule_sensor]
target = tool
regex = ^sensor
groups = b
[routing_rule_mail]
collectors = mailbox
groups = a, b
[routing_rule_phish]
target = analysis_mode
regex = ^email$
groups = b
[routing_rule_gone]
target = type
regex = ^legacy$
groups = retired
`

// The union of the matching rules' groups; the default group for what no
// rule matched (or what only names groups that are not enabled);
// group_assignments still win; each decision counted per rule.
func TestRoutingRulesAssignGroups(t *testing.T) {
	rt, store, stats := routedRuntime(t, routingRules, false)
	for _, tt := range []struct {
		name      string
		collector string
		mutate    func(*collector.Submission)
		want      []string
	}{
		{"observable", "eve", func(s *collector.Submission) { s.AddObservable("ipv4", "10.1.2.3") }, []string{"a"}},
		{"other observable type", "eve", func(s *collector.Submission) { s.AddObservable("fqdn", "10.example") }, []string{"c"}},
		{"tool", "eve", func(s *collector.Submission) { s.Tool = "sensor-7" }, []string{"b"}},
		{"union", "eve", func(s *collector.Submission) { s.Tool = "sensor-7"; s.AddObservable("ipv4", "10.0.0.1") }, []string{"a", "b"}},
		{"collector", "mailbox", nil, []string{"a", "b"}},
		{"analysis mode", "eve", func(s *collector.Submission) { s.AnalysisMode = "email" }, []string{"b"}},
		{"no match: default", "eve", nil, []string{"c"}},
		{"only unknown groups: default", "eve", func(s *collector.Submission) { s.Type = "legacy" }, []string{"c"}},
		{"group_assignments win", "eve", func(s *collector.Submission) { s.Tool = "sensor"; s.GroupAssignments = []string{"c"} }, []string{"c"}},
	} {
		sub := collector.NewSubmission(tt.name)
		sub.Tool = "other"
		if tt.mutate != nil {
			tt.mutate(sub)
		}
		if got := groupsOf(t, rt, store, tt.collector, sub); !slices.Equal(got, tt.want) {
			t.Errorf("%s: routed to %v, want %v", tt.name, got, tt.want)
		}
	}
	for scope, want := range map[string]int64{"routing_rule:internal": 2, "routing_rule:sensor": 2, "routing_rule:mail": 1,
		"routing_rule:phish": 1, "routing_rule:gone": 1} {
		if got := stats.Get(scope, "matched"); got != want {
			t.Errorf("%s matched %d, want %d", scope, got, want)
		}
	}
	if got := stats.Get("routing", "default"); got != 3 {
		t.Errorf("routing default %d, want 3", got)
	}
}

// Without rules every group gets everything (today's behaviour); with
// rules but no default group, what no rule matched goes to every group and
// is counted as unmatched; a reload replaces the rules.
func TestRoutingWithoutRulesOrDefault(t *testing.T) {
	rt, store, stats := routedRuntime(t, "", true)
	if got := groupsOf(t, rt, store, "eve", collector.NewSubmission("x")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("without rules: %v", got)
	}
	rules, _ := parseRouting(t, routingRules)
	rt.SetRouting(rules)
	sub := collector.NewSubmission("y")
	sub.Tool = "sensor"
	if got := groupsOf(t, rt, store, "eve", sub); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("after SetRouting: %v", got)
	}
	if got := groupsOf(t, rt, store, "eve", collector.NewSubmission("z")); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("unmatched without a default group: %v", got)
	}
	if stats.Get("routing", "unmatched") != 1 || stats.Get("routing", "default") != 0 {
		t.Fatalf("unmatched %d, default %d", stats.Get("routing", "unmatched"), stats.Get("routing", "default"))
	}
}
