package syslog

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/collectors/common/netobs"
)

// eventFields are the fields Event.Field knows by name, apart from the
// sd., ext., CEF/LEEF standard and extracted ones.
var eventFields = []string{"message", "hostname", "app_name", "proc_id", "msg_id", "facility", "severity",
	"format", "transport", "peer", "signature", "name", "vendor", "product", "device_version", "cef_severity"}

// checkFields reports, at config time, every field name in rules,
// extractors and aggregate_by keys that no event can have (a typo such as
// app_nmae would otherwise make a rule that silently never matches), and
// extractor groups that would hide a field of the same name.
func checkFields(sec *collector.Section, c *Config) {
	extracted := map[string]bool{}
	for _, x := range c.Extractors {
		for _, g := range x.Fields() {
			if slices.Contains(eventFields, g) {
				sec.Errorf("extract_"+x.Name, "group %q would hide the event field of that name; rename it", g)
			}
			extracted[g] = true
		}
		for _, f := range x.Reads() {
			if err := checkField(f, nil); err != nil {
				sec.Errorf("extract_"+x.Name, "%v", err)
			}
		}
	}
	for _, r := range c.Rules {
		for _, f := range r.Fields() {
			if err := checkField(f, extracted); err != nil {
				sec.Errorf("rule_"+r.Name, "%v", err)
			}
		}
	}
	checkList := func(key string, fields []string) {
		for _, f := range fields {
			if err := checkField(f, extracted); err != nil {
				sec.Errorf(key, "%v", err)
			}
		}
	}
	checkList("aggregate_by", c.AggregateBy)
	rules := make([]string, 0, len(c.AggregateByRule))
	for rule := range c.AggregateByRule {
		rules = append(rules, rule)
	}
	sort.Strings(rules) // problems in a stable order
	for _, rule := range rules {
		checkList("aggregate_by_"+rule, c.AggregateByRule[rule])
	}
}

// checkField returns an error naming the nearest known field when no
// event can have a field called name. Vendor extension keys are not
// known in advance; they are written ext.<key>.
func checkField(name string, extracted map[string]bool) error {
	switch {
	case slices.Contains(eventFields, name), extracted[name], cef.IsStandardKey(name):
		return nil
	case strings.HasPrefix(name, "sd."):
		if id, param, ok := strings.Cut(name[3:], "."); !ok || id == "" || param == "" {
			return fmt.Errorf("field %q: want sd.<SD-ID>.<param>", name)
		}
		return nil
	case strings.HasPrefix(name, "ext."):
		if len(name) == 4 || strings.ContainsAny(name, " =") {
			return fmt.Errorf("field %q: want ext.<extension key>", name)
		}
		return nil
	}
	cands := slices.Concat(eventFields, cef.StandardKeys())
	for f := range extracted {
		cands = append(cands, f)
	}
	if near := collector.Nearest(name, cands); near != "" {
		return fmt.Errorf("unknown field %q (did you mean %q?)", name, near)
	}
	return fmt.Errorf("unknown field %q: not an event field, a CEF/LEEF standard key or a field of an extract_ key "+
		"(a vendor's extension key is written ext.%s)", name, name)
}

// loadAggregateByRule reads the aggregate_by_<rule> keys; each must name
// a rule.
func loadAggregateByRule(sec *collector.Section, rules netobs.Rules) map[string][]string {
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	sort.Strings(names)
	out := map[string][]string{}
	for _, k := range sec.KeysWithPrefix("aggregate_by_") {
		rule := strings.TrimPrefix(k, "aggregate_by_")
		if !slices.Contains(names, rule) {
			if near := collector.Nearest(rule, names); near != "" {
				sec.Errorf(k, "there is no rule_%s (did you mean aggregate_by_%s?)", rule, near)
			} else {
				sec.Errorf(k, "there is no rule_%s", rule)
			}
			continue
		}
		out[rule] = sec.List(k)
	}
	return out
}

// aggregateBy returns the fields that key aggregation of rule's events;
// none means one submission per event.
func (c *Config) aggregateBy(rule string) []string {
	if by, ok := c.AggregateByRule[rule]; ok {
		return by
	}
	return c.AggregateBy
}

// aggregates reports whether any rule's events are aggregated.
func (c *Config) aggregates() bool {
	if len(c.AggregateBy) > 0 {
		return true
	}
	for _, by := range c.AggregateByRule {
		if len(by) > 0 {
			return true
		}
	}
	return false
}
