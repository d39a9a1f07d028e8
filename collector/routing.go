package collector

import (
	"slices"
	"strings"
)

// RoutingRule assigns collection groups to the submissions it matches
// (EtherSensor's filter choosing a delivery profile). Section:
//
//	[routing_rule_NAME]
//	target = description | observable | observable:TYPE | tag | tool | type | analysis_mode | any
//	regex = ...          ; optional when collectors is set: then every submission of those
//	collectors = a, b    ; optional: only submissions of these collectors
//	groups = a, b        ; the groups a matching submission goes to
//
// description, observable, tag and any match as tuning rules do (any:
// description, observables or tags); tool, type and analysis_mode match
// the submission's field.
type RoutingRule struct {
	Name       string
	Target     string
	ObsType    string
	Collectors []string
	Groups     []string
	match      TuningRule // the tuning rules' matcher, for their targets
}

// routingTargets are the targets a routing rule may name.
var routingTargets = []string{"any", "description", "observable", "tag", "tool", "type", "analysis_mode"}

// ParseRouting reads every [routing_rule_NAME] section; disabled rules and
// rules with problems are left out (the problems are reported).
func ParseRouting(cf *ConfigFile) []*RoutingRule {
	var out []*RoutingRule
	for _, n := range cf.WithPrefix("routing_rule_") {
		sec := n.Section
		r := &RoutingRule{Name: n.Name, Collectors: sec.List("collectors"), Groups: sec.List("groups")}
		target := sec.String("target", "any")
		if t, ok := strings.CutPrefix(target, "observable:"); ok && t != "" {
			r.Target, r.ObsType = "observable", t
		} else {
			r.Target = sec.OneOf("target", "any", routingTargets...)
		}
		re := sec.Regexp("regex")
		ok := (re != nil || !sec.Has("regex")) && (r.ObsType != "" || strings.EqualFold(r.Target, target))
		if !sec.Has("regex") && len(r.Collectors) == 0 {
			sec.Errorf("regex", "required unless collectors names the collectors to route")
			ok = false
		}
		if len(r.Groups) == 0 {
			sec.Errorf("groups", "required: the collection groups matching submissions go to")
			ok = false
		}
		r.match = TuningRule{Name: n.Name, Target: r.Target, ObsType: r.ObsType, Regex: re}
		if sec.Bool("enabled", true) && ok {
			out = append(out, r)
		}
	}
	return out
}

// Matches reports whether the rule takes sub from collector collectorName.
func (r *RoutingRule) Matches(collectorName string, sub *Submission) bool {
	if len(r.Collectors) > 0 && !slices.Contains(r.Collectors, collectorName) {
		return false
	}
	re := r.match.Regex
	if re == nil {
		return true
	}
	switch r.Target {
	case "tool":
		return re.MatchString(sub.Tool)
	case "type":
		return re.MatchString(sub.Type)
	case "analysis_mode":
		return re.MatchString(sub.AnalysisMode)
	}
	return r.match.matches(sub)
}

// SetRouting replaces the routing rules (a configuration reload). Only
// submissions stored afterwards are routed by the new rules: the groups of
// a stored submission were decided when it was stored.
func (r *Runtime) SetRouting(rules []*RoutingRule) {
	r.routing.Store(&rules)
}

// RoutingRules are the routing rules in force.
func (r *Runtime) RoutingRules() []*RoutingRule { return r.routingRules() }

func (r *Runtime) routingRules() []*RoutingRule {
	if p := r.routing.Load(); p != nil {
		return *p
	}
	return r.o.Routing
}

// route decides, once, at enqueue, which groups get a submission that
// names no group_assignments. Without routing rules every group does.
// With rules it is the union of the matching rules' groups; what no rule
// sends to an enabled group goes to the groups marked default, or, with
// none marked, to every group (nothing is dropped for lack of a route).
// Every decision is counted: routing_rule:NAME/matched per rule, and
// routing/default or routing/unmatched.
func (r *Runtime) route(collectorName string, sub *Submission) []GroupTarget {
	rules := r.routingRules()
	if len(rules) == 0 {
		return r.o.Groups
	}
	want := map[string]bool{}
	var matched []string
	for _, rule := range rules {
		if rule.Matches(collectorName, sub) {
			r.o.Stats.Add("routing_rule:"+rule.Name, "matched", 1)
			matched = append(matched, rule.Name)
			for _, g := range rule.Groups {
				want[g] = true
			}
		}
	}
	var out []GroupTarget
	for _, g := range r.o.Groups {
		if want[g.Name] {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		for _, g := range r.o.Groups {
			if g.Default {
				out = append(out, g)
			}
		}
		if len(out) > 0 {
			r.o.Stats.Add("routing", "default", 1)
		} else {
			r.o.Stats.Add("routing", "unmatched", 1)
			out = r.o.Groups
		}
	}
	r.o.Log.Debug("submission routed", "collector", collectorName, "uuid", sub.UUID, "rules", matched, "groups", len(out))
	return out
}
