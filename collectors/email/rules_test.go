package email

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector/collectortest"
)

func TestRoutingRules(t *testing.T) {
	spool := t.TempDir()
	c := build(t, strings.Join([]string{
		"spool_dir = " + spool,
		"scan_interval = 10ms",
		`rule.spam.header.Subject = (?i)^no body`,
		`rule.spam.action = drop`,
		`rule.bank.header.From = (?i)@example-bank\.com>$`,
		`rule.bank.groups = local`,
		`rule.urls.raw = https://login\.`,
		`rule.urls.groups = cloud, local`,
	}, "\n"))
	copyFixture(t, "header_only.eml", filepath.Join(spool, "2024010203", "a"), time.Now().Add(-time.Minute))
	copyFixture(t, "multipart_alternative.eml", filepath.Join(spool, "2024010203", "b"), time.Now())
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "mail", sink, collectortest.NewState())
	stop := start(t, c, env)
	subs, err := sink.WaitFor(waitCtx(t), 1)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	if len(subs) != 1 {
		t.Fatalf("want 1 submission (one dropped), got %d", len(subs))
	}
	if !slices.Equal(subs[0].GroupAssignments, []string{"local", "cloud"}) {
		t.Errorf("groups = %v, want the union [local cloud]", subs[0].GroupAssignments)
	}
	if got := env.Stats.Get("mail", "dropped_rule:spam"); got != 1 {
		t.Errorf("dropped_rule:spam = %d", got)
	}
	if _, err := os.Stat(filepath.Join(spool, "2024010203", "a")); !os.IsNotExist(err) {
		t.Errorf("dropped message left in spool: %v", err)
	}
}

func TestRulesFileReloaded(t *testing.T) {
	spool := t.TempDir()
	rules := filepath.Join(t.TempDir(), "rules.ini")
	if err := os.WriteFile(rules, []byte("[first]\nheader.Subject = .\ngroups = g1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := build(t, "spool_dir = "+spool+"\nscan_interval = 10ms\nrules_check_interval = 0s\nrules_file = "+rules+"\n")
	sink := collectortest.NewSink()
	start(t, c, collectortest.Env(t, "mail", sink, collectortest.NewState()))
	copyFixture(t, "header_only.eml", filepath.Join(spool, "d", "1"), time.Now())
	ctx := waitCtx(t)
	subs, err := sink.WaitFor(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subs[0].GroupAssignments, []string{"g1"}) {
		t.Fatalf("groups %v", subs[0].GroupAssignments)
	}
	if err := os.WriteFile(rules, []byte("[second]\nheader.Subject = .\ngroups = g2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A broken edit leaves the previous rules in force until fixed.
	copyFixture(t, "header_only.eml", filepath.Join(spool, "d", "2"), time.Now())
	subs, err = sink.WaitFor(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(subs[1].GroupAssignments, []string{"g2"}) {
		t.Errorf("after reload: groups %v", subs[1].GroupAssignments)
	}
}

func TestConfigProblems(t *testing.T) {
	tests := []struct {
		name, keys, want string
	}{
		{"missing spool", "scan_interval = 1s", "spool_dir: required"},
		{"bad regexp", "spool_dir = /x\nrule.r.header.From = (unclosed\nrule.r.action = drop", "rule.r.header.From: bad regular expression"},
		{"rule without condition", "spool_dir = /x\nrule.r.action = drop", "has no condition"},
		{"assign without groups", "spool_dir = /x\nrule.r.raw = x", "assigns no groups"},
		{"bad action", "spool_dir = /x\nrule.r.raw = x\nrule.r.action = quarantine", "not one of drop, assign"},
		{"bad non_email", "spool_dir = /x\nnon_email = keep", "non_email: \"keep\" is not one of submit, reject"},
		{"bad subdir format", "spool_dir = /x\nsubdir_format = HHMM", "has no year"},
		{"unknown key", "spool_dir = /x\nspooldir = /y", "spooldir: unknown key"},
		{"missing rules file", "spool_dir = /x\nrules_file = /nonexistent/rules.ini", "rules_file"},
		{"bad rules file regexp", "spool_dir = /x\nrules_file = " + badRulesFile(t), "bad regular expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := tryBuild(t, tt.keys)
			var all []string
			for _, p := range probs {
				all = append(all, p.Error())
			}
			if !strings.Contains(strings.Join(all, "\n"), tt.want) {
				t.Errorf("problems %q do not mention %q", all, tt.want)
			}
		})
	}
}

func badRulesFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "bad.ini")
	if err := os.WriteFile(p, []byte("[r]\nraw = [z-a]\naction = drop\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubdirLayout(t *testing.T) {
	for in, want := range map[string]string{"YYYYMMDDHH": "2006010215", "%Y%m%d%H": "2006010215", "YYYY-MM-DD": "2006-01-02"} {
		got, err := SubdirLayout(in)
		if err != nil || got != want {
			t.Errorf("SubdirLayout(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "MMDD", "YYYY/MM", "YYYYxx"} {
		if _, err := SubdirLayout(bad); err == nil {
			t.Errorf("SubdirLayout(%q) accepted", bad)
		}
	}
}
