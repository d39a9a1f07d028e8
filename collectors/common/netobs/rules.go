package netobs

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// Fields looks up a field of an event by name; ok is false if the event
// has no such field.
type Fields func(name string) (value string, ok bool)

// Rule is one rule_<name> key: conditions joined by "&&", all of which
// must hold.
//
// Grammar: COND [&& COND]..., COND = FIELD OP VALUE, where OP is one of
//
//	~  !~          VALUE is a Go regular expression (RE2) that must / must not match
//	=  ==  !=      string equality (case-sensitive)
//	>= <= > <      numeric comparison; a non-numeric field does not match
//
// VALUE is the rest of the condition, trimmed; wrap it in double quotes to
// keep leading or trailing spaces. A missing field matches only "!=" and "!~".
type Rule struct {
	Name  string
	Text  string
	conds []cond
}

type cond struct {
	field, op, value string
	re               *regexp.Regexp
	num              float64
}

var ops = []string{"!~", "==", "!=", ">=", "<=", "~", "=", ">", "<"}

// ParseRule parses one rule's text.
func ParseRule(name, text string) (*Rule, error) {
	r := &Rule{Name: name, Text: text}
	for _, part := range strings.Split(text, "&&") {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty condition in %q", text)
		}
		field, rest, _ := strings.Cut(part, " ")
		rest = strings.TrimSpace(rest)
		var c cond
		for _, op := range ops {
			if strings.HasPrefix(rest, op) {
				c.op = op
				break
			}
		}
		if field == "" || c.op == "" {
			return nil, fmt.Errorf("condition %q: want FIELD OP VALUE with OP one of ~ !~ = != >= <= > <", part)
		}
		c.field = field
		c.value = strings.TrimSpace(rest[len(c.op):])
		if len(c.value) >= 2 && c.value[0] == '"' && c.value[len(c.value)-1] == '"' {
			c.value = c.value[1 : len(c.value)-1]
		}
		switch c.op {
		case "==":
			c.op = "="
		case "~", "!~":
			re, err := regexp.Compile(c.value)
			if err != nil {
				return nil, fmt.Errorf("condition %q: bad regular expression: %w", part, err)
			}
			c.re = re
		case ">=", "<=", ">", "<":
			n, err := strconv.ParseFloat(c.value, 64)
			if err != nil {
				return nil, fmt.Errorf("condition %q: %q is not a number", part, c.value)
			}
			c.num = n
		}
		r.conds = append(r.conds, c)
	}
	return r, nil
}

// Fields returns the field names the rule's conditions read, in order,
// so that a collector can check them against the fields its events have.
func (r *Rule) Fields() []string {
	out := make([]string, len(r.conds))
	for i, c := range r.conds {
		out[i] = c.field
	}
	return out
}

// Match reports whether every condition holds for the event.
func (r *Rule) Match(f Fields) bool {
	for i := range r.conds {
		if !r.conds[i].match(f) {
			return false
		}
	}
	return true
}

func (c *cond) match(f Fields) bool {
	v, ok := f(c.field)
	switch c.op {
	case "!=":
		return !ok || v != c.value
	case "!~":
		return !ok || !c.re.MatchString(v)
	}
	if !ok {
		return false
	}
	switch c.op {
	case "=":
		return v == c.value
	case "~":
		return c.re.MatchString(v)
	}
	n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return false
	}
	switch c.op {
	case ">=":
		return n >= c.num
	case "<=":
		return n <= c.num
	case ">":
		return n > c.num
	default:
		return n < c.num
	}
}

// Rules is the set of rule_<name> keys of a collector section. An event
// is accepted when any rule matches; with no rules every event is.
type Rules []*Rule

// LoadRules reads every rule_<name> key of sec, reporting bad ones with
// sec.Errorf.
func LoadRules(sec *collector.Section) Rules {
	var rs Rules
	for _, k := range sec.KeysWithPrefix("rule_") {
		name := strings.TrimPrefix(k, "rule_")
		text := sec.String(k, "")
		if name == "" {
			sec.Errorf(k, "rule needs a name: rule_<name>")
			continue
		}
		r, err := ParseRule(name, text)
		if err != nil {
			sec.Errorf(k, "%v", err)
			continue
		}
		rs = append(rs, r)
	}
	return rs
}

// Match returns the name of the first matching rule ("" and true when
// there are no rules), or false.
func (rs Rules) Match(f Fields) (string, bool) {
	if len(rs) == 0 {
		return "", true
	}
	for _, r := range rs {
		if r.Match(f) {
			return r.Name, true
		}
	}
	return "", false
}
