package collector

import (
	"slices"
	"strings"
)

// SubmissionKeys are the keys every collector kind accepts in its section
// for the ACE submission fields. `type` names the collector kind, so the
// submission's ACE type is `submission_type`.
var SubmissionKeys = []string{
	"analysis_mode", "queue", "tool", "tool_instance", "submission_type", "tags", "group_assignments",
}

// SubmissionDefaults are a kind's values for the shared submission keys
// when its section does not set them.
type SubmissionDefaults struct {
	// AnalysisMode; "" means ACE's default (DefaultAnalysisMode).
	AnalysisMode string
	// Type is the ACE submission type; "" means the kind sets a type per
	// submission itself (eStreamer: one per event kind) or, if it does
	// not, ACE's default (DefaultType).
	Type string
	// Tool; "" leaves the runtime's "ace-collector KIND".
	Tool string
}

// SubmissionFields are the parsed shared submission keys of one section.
type SubmissionFields struct {
	AnalysisMode string
	Queue        string
	Tool         string   // "" when neither configured nor defaulted
	ToolInstance string   // "" means the host name, resolved by Apply
	Type         string   // submission_type; "" means the kind's own per-submission type
	Tags         []string // added to every submission
	Groups       []string // group_assignments; empty means every group
}

// ParseSubmissionFields reads the shared submission keys of sec, taking d
// for the keys the section leaves out. A key that is present but empty is
// a problem (leaving it out gives the default), except tool_instance
// (empty means the host name) and the two lists.
func ParseSubmissionFields(sec *Section, d SubmissionDefaults) SubmissionFields {
	if d.AnalysisMode == "" {
		d.AnalysisMode = DefaultAnalysisMode
	}
	return SubmissionFields{
		AnalysisMode: nonEmpty(sec, "analysis_mode", d.AnalysisMode),
		Queue:        nonEmpty(sec, "queue", DefaultQueue),
		Tool:         nonEmpty(sec, "tool", d.Tool),
		ToolInstance: sec.String("tool_instance", ""),
		Type:         nonEmpty(sec, "submission_type", d.Type),
		Tags:         sec.List("tags"),
		Groups:       sec.List("group_assignments"),
	}
}

// nonEmpty returns key's value or def, recording a problem when the key
// is set to nothing (most likely a value that was meant to be filled in).
func nonEmpty(sec *Section, key, def string) string {
	v := sec.String(key, def)
	if sec.Has(key) && strings.TrimSpace(v) == "" {
		sec.Errorf(key, "must not be empty (leave the key out for the default)")
		return def
	}
	return v
}

// Apply puts the configured fields on sub, normally right after
// NewSubmission. analysis_mode and queue replace NewSubmission's ACE
// defaults; tool and submission_type do when they have a value, so a
// kind without a default type keeps the type it set per submission;
// tool_instance, when not configured, fills an empty ToolInstance with
// g.Hostname; tags are added to the collector's own; group_assignments
// apply only when the collector (a routing rule) assigned no group.
func (f SubmissionFields) Apply(sub *Submission, g Global) {
	if f.AnalysisMode != "" {
		sub.AnalysisMode = f.AnalysisMode
	}
	if f.Queue != "" {
		sub.Queue = f.Queue
	}
	if f.Tool != "" {
		sub.Tool = f.Tool
	}
	switch {
	case f.Type != "":
		sub.Type = f.Type
	case sub.Type == "":
		sub.Type = DefaultType
	}
	switch {
	case f.ToolInstance != "":
		sub.ToolInstance = f.ToolInstance
	case sub.ToolInstance == "":
		sub.ToolInstance = g.Hostname
	}
	sub.Tags = mergeStrings(sub.Tags, f.Tags)
	if len(sub.GroupAssignments) == 0 && len(f.Groups) > 0 {
		sub.GroupAssignments = slices.Clone(f.Groups)
	}
}
