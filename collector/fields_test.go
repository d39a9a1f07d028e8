package collector

import (
	"slices"
	"strings"
	"testing"

	"github.com/go-ini/ini"
)

func parseFieldsFrom(t *testing.T, body string, d SubmissionDefaults) (SubmissionFields, []error) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, []byte("[collector_t]\n"+body))
	if err != nil {
		t.Fatal(err)
	}
	var p Problems
	sec := NewSection(f.Section("collector_t"), &p)
	fields := ParseSubmissionFields(sec, d)
	sec.Done() // every shared key must have been read
	return fields, p.List()
}

func TestParseSubmissionFields(t *testing.T) {
	kindDefaults := SubmissionDefaults{AnalysisMode: "correlation", Type: "syslog", Tool: "syslog"}
	for _, tc := range []struct {
		name     string
		body     string
		defaults SubmissionDefaults
		want     SubmissionFields
		problems []string // keys with a problem
	}{
		{
			name:     "absent keys take the kind's defaults",
			defaults: kindDefaults,
			want:     SubmissionFields{AnalysisMode: "correlation", Queue: DefaultQueue, Tool: "syslog", Type: "syslog"},
		},
		{
			name: "no kind defaults: ACE's analysis mode, no tool, no type",
			want: SubmissionFields{AnalysisMode: DefaultAnalysisMode, Queue: DefaultQueue},
		},
		{
			name: "every key set",
			body: "analysis_mode = email\nqueue = q2\ntool = t\ntool_instance = box-1\nsubmission_type = mailbox\n" +
				"tags = a, b ,,c\ngroup_assignments = main, backup\n",
			defaults: kindDefaults,
			want: SubmissionFields{AnalysisMode: "email", Queue: "q2", Tool: "t", ToolInstance: "box-1", Type: "mailbox",
				Tags: []string{"a", "b", "c"}, Groups: []string{"main", "backup"}},
		},
		{
			name:     "empty values where a value is needed are problems; the default stays",
			body:     "analysis_mode =\nqueue =\ntool =\nsubmission_type =\n",
			defaults: kindDefaults,
			want:     SubmissionFields{AnalysisMode: "correlation", Queue: DefaultQueue, Tool: "syslog", Type: "syslog"},
			problems: []string{"analysis_mode", "queue", "tool", "submission_type"},
		},
		{
			name:     "empty tool_instance and lists are fine",
			body:     "tool_instance =\ntags =\ngroup_assignments =\n",
			defaults: kindDefaults,
			want:     SubmissionFields{AnalysisMode: "correlation", Queue: DefaultQueue, Tool: "syslog", Type: "syslog"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, probs := parseFieldsFrom(t, tc.body, tc.defaults)
			if !fieldsEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			var keys []string
			for _, p := range probs {
				ce, ok := p.(*ConfigError)
				if !ok {
					t.Fatalf("problem %v is not a *ConfigError", p)
				}
				keys = append(keys, ce.Key)
			}
			if !slices.Equal(keys, tc.problems) {
				t.Errorf("problems on %v (%v), want on %v", keys, probs, tc.problems)
			}
		})
	}
}

// Every key in SubmissionKeys is read (Done reports none as unknown), and
// nothing else is.
func TestParseSubmissionFieldsReadsExactlyTheSharedKeys(t *testing.T) {
	var b strings.Builder
	for _, k := range SubmissionKeys {
		b.WriteString(k + " = x\n")
	}
	b.WriteString("listen = 1\n")
	_, probs := parseFieldsFrom(t, b.String(), SubmissionDefaults{})
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), "listen: unknown key") {
		t.Errorf("problems %v; want only listen as unknown", probs)
	}
}

func TestSubmissionFieldsApply(t *testing.T) {
	g := Global{Hostname: "collector-host"}
	full := SubmissionFields{AnalysisMode: "email", Queue: "q2", Tool: "tool-x", ToolInstance: "box-1", Type: "mailbox",
		Tags: []string{"a", "b"}, Groups: []string{"main"}}
	for _, tc := range []struct {
		name   string
		fields SubmissionFields
		before func(*Submission) // what the collector set before Apply
		want   Submission
	}{
		{
			name:   "configured values replace NewSubmission's defaults",
			fields: full,
			want: Submission{AnalysisMode: "email", Queue: "q2", Tool: "tool-x", ToolInstance: "box-1", Type: "mailbox",
				Tags: []string{"a", "b"}, GroupAssignments: []string{"main"}},
		},
		{
			name:   "tool_instance defaults to the host name",
			fields: SubmissionFields{AnalysisMode: "analysis", Queue: "default", Tool: "t", Type: "x"},
			want:   Submission{AnalysisMode: "analysis", Queue: "default", Tool: "t", ToolInstance: "collector-host", Type: "x"},
		},
		{
			name:   "no submission_type keeps the collector's per-submission type",
			fields: SubmissionFields{AnalysisMode: "correlation", Queue: "default", Tool: "t"},
			before: func(s *Submission) { s.Type = "estreamer - intrusion" },
			want:   Submission{AnalysisMode: "correlation", Queue: "default", Tool: "t", ToolInstance: "collector-host", Type: "estreamer - intrusion"},
		},
		{
			name:   "no type anywhere is ACE's generic",
			fields: SubmissionFields{AnalysisMode: "analysis", Queue: "default"},
			before: func(s *Submission) { s.Type = "" },
			want:   Submission{AnalysisMode: "analysis", Queue: "default", ToolInstance: "collector-host", Type: DefaultType},
		},
		{
			name:   "tags merge with the collector's own, without duplicates",
			fields: full,
			before: func(s *Submission) { s.Tags = []string{"b", "own"} },
			want: Submission{AnalysisMode: "email", Queue: "q2", Tool: "tool-x", ToolInstance: "box-1", Type: "mailbox",
				Tags: []string{"b", "own", "a"}, GroupAssignments: []string{"main"}},
		},
		{
			name:   "groups a routing rule assigned win over group_assignments",
			fields: full,
			before: func(s *Submission) { s.GroupAssignments = []string{"finance"} },
			want: Submission{AnalysisMode: "email", Queue: "q2", Tool: "tool-x", ToolInstance: "box-1", Type: "mailbox",
				Tags: []string{"a", "b"}, GroupAssignments: []string{"finance"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sub := NewSubmission("d")
			if tc.before != nil {
				tc.before(sub)
			}
			tc.fields.Apply(sub, g)
			w := tc.want
			if sub.AnalysisMode != w.AnalysisMode || sub.Queue != w.Queue || sub.Tool != w.Tool ||
				sub.ToolInstance != w.ToolInstance || sub.Type != w.Type ||
				!slices.Equal(sub.Tags, w.Tags) || !slices.Equal(sub.GroupAssignments, w.GroupAssignments) {
				t.Errorf("got  mode=%q queue=%q tool=%q instance=%q type=%q tags=%v groups=%v\nwant mode=%q queue=%q tool=%q instance=%q type=%q tags=%v groups=%v",
					sub.AnalysisMode, sub.Queue, sub.Tool, sub.ToolInstance, sub.Type, sub.Tags, sub.GroupAssignments,
					w.AnalysisMode, w.Queue, w.Tool, w.ToolInstance, w.Type, w.Tags, w.GroupAssignments)
			}
		})
	}
	// Apply must not let a submission share the configuration's slices.
	sub := NewSubmission("d")
	full.Apply(sub, g)
	sub.Tags[0], sub.GroupAssignments[0] = "changed", "changed"
	if full.Tags[0] != "a" || full.Groups[0] != "main" {
		t.Error("Apply aliased the configured tags or groups")
	}
}

func fieldsEqual(a, b SubmissionFields) bool {
	return a.AnalysisMode == b.AnalysisMode && a.Queue == b.Queue && a.Tool == b.Tool &&
		a.ToolInstance == b.ToolInstance && a.Type == b.Type &&
		slices.Equal(a.Tags, b.Tags) && slices.Equal(a.Groups, b.Groups)
}
