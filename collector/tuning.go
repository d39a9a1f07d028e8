package collector

import (
	"regexp"
	"slices"
	"strings"
)

// TuningRule drops matching submissions before they are stored (ACE's
// submission tuning, with regular expressions instead of yara). Section:
//
//	[tuning_rule_NAME]
//	target = description | observable | observable:TYPE | tag | any
//	regex = ...
//	collectors = a, b   ; optional: only these collectors
type TuningRule struct {
	Name       string
	Target     string
	ObsType    string
	Regex      *regexp.Regexp
	Collectors []string
}

// Tuning is the set of rules that apply to one collector; nil matches nothing.
type Tuning struct{ rules []*TuningRule }

// ParseTuning reads every [tuning_rule_NAME] section.
func ParseTuning(cf *ConfigFile) []*TuningRule {
	var out []*TuningRule
	for _, n := range cf.WithPrefix("tuning_rule_") {
		sec := n.Section
		r := &TuningRule{Name: n.Name, Collectors: sec.List("collectors")}
		target := sec.String("target", "any")
		if t, ok := strings.CutPrefix(target, "observable:"); ok {
			r.Target, r.ObsType = "observable", t
		} else {
			r.Target = sec.OneOf("target", "any", "description", "observable", "tag", "any")
			_ = target
		}
		r.Regex = sec.Regexp("regex")
		if r.Regex == nil && !sec.Has("regex") {
			sec.Errorf("regex", "required")
		}
		if sec.Bool("enabled", true) && r.Regex != nil {
			out = append(out, r)
		}
	}
	return out
}

// TuningFor returns the rules that apply to collector name (nil if none).
func TuningFor(rules []*TuningRule, name string) *Tuning {
	var t Tuning
	for _, r := range rules {
		if len(r.Collectors) == 0 || slices.Contains(r.Collectors, name) {
			t.rules = append(t.rules, r)
		}
	}
	if len(t.rules) == 0 {
		return nil
	}
	return &t
}

// Match returns the name of the first rule matching sub, or "".
func (t *Tuning) Match(sub *Submission) string {
	if t == nil {
		return ""
	}
	for _, r := range t.rules {
		if r.matches(sub) {
			return r.Name
		}
	}
	return ""
}

func (r *TuningRule) matches(sub *Submission) bool {
	if (r.Target == "description" || r.Target == "any") && r.Regex.MatchString(sub.Description) {
		return true
	}
	if r.Target == "observable" || r.Target == "any" {
		for _, o := range sub.Observables {
			if (r.ObsType == "" || r.ObsType == o.Type) && r.Regex.MatchString(o.Value) {
				return true
			}
		}
	}
	if r.Target == "tag" || r.Target == "any" {
		for _, tag := range sub.Tags {
			if r.Regex.MatchString(tag) {
				return true
			}
		}
	}
	return false
}
