package netobs

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// Extractor is one extract_<name> key: "[COND && ...] FIELD ~ REGEX",
// where the named groups of REGEX (RE2, "(?P<src>...)") become fields of
// the event when it matches FIELD and the conditions (rule grammar) hold.
// It gives structure to free-text lines, e.g. the attacker's address in
// sshd's "Failed password for root from 203.0.113.9 port 52144 ssh2", so
// that rules and aggregation can use it. Extractors read the parsed
// fields, not each other's.
type Extractor struct {
	Name   string
	Field  string // the field read
	when   *Rule  // conditions; nil: none
	re     *regexp.Regexp
	groups []string
}

// ParseExtractor parses one extractor's text.
func ParseExtractor(name, text string) (*Extractor, error) {
	var when *Rule
	if i := strings.LastIndex(text, "&&"); i >= 0 {
		r, err := ParseRule(name, text[:i])
		if err != nil {
			return nil, err
		}
		when, text = r, text[i+2:]
	}
	field, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	rest = strings.TrimSpace(rest)
	expr, ok := strings.CutPrefix(rest, "~")
	if field == "" || !ok {
		return nil, fmt.Errorf("%q: want FIELD ~ REGEX, REGEX with named groups (?P<name>...)", text)
	}
	expr = strings.TrimSpace(expr)
	if len(expr) >= 2 && expr[0] == '"' && expr[len(expr)-1] == '"' {
		expr = expr[1 : len(expr)-1]
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("bad regular expression: %w", err)
	}
	x := &Extractor{Name: name, Field: field, when: when, re: re}
	for _, g := range re.SubexpNames() {
		if g != "" {
			x.groups = append(x.groups, g)
		}
	}
	if len(x.groups) == 0 {
		return nil, fmt.Errorf("%q has no named group (?P<name>...) to extract", expr)
	}
	return x, nil
}

// Fields returns the names of the fields x sets.
func (x *Extractor) Fields() []string { return x.groups }

// Reads returns the names of the fields x reads: its conditions' and
// FIELD.
func (x *Extractor) Reads() []string {
	var out []string
	if x.when != nil {
		out = x.when.Fields()
	}
	return append(out, x.Field)
}

// Extractors is the set of extract_<name> keys of a section, applied in
// name order.
type Extractors []*Extractor

// LoadExtractors reads every extract_<name> key of sec, reporting bad
// ones with sec.Errorf.
func LoadExtractors(sec *collector.Section) Extractors {
	var xs Extractors
	for _, k := range sec.KeysWithPrefix("extract_") {
		name := strings.TrimPrefix(k, "extract_")
		if name == "" {
			sec.Errorf(k, "extractor needs a name: extract_<name>")
			continue
		}
		x, err := ParseExtractor(name, sec.String(k, ""))
		if err != nil {
			sec.Errorf(k, "%v", err)
			continue
		}
		xs = append(xs, x)
	}
	return xs
}

// Fields returns every field name the extractors set.
func (xs Extractors) Fields() []string {
	var out []string
	for _, x := range xs {
		out = append(out, x.groups...)
	}
	return out
}

// Apply runs every extractor over the event's fields and returns the
// non-empty values of the named groups of those that match (an earlier
// extractor's value wins), or nil.
func (xs Extractors) Apply(f Fields) map[string]string {
	var out map[string]string
	for _, x := range xs {
		v, ok := f(x.Field)
		if !ok || (x.when != nil && !x.when.Match(f)) {
			continue
		}
		m := x.re.FindStringSubmatch(v)
		if m == nil {
			continue
		}
		for i, g := range x.re.SubexpNames() {
			if g == "" || m[i] == "" {
				continue
			}
			if _, taken := out[g]; taken {
				continue
			}
			if out == nil {
				out = map[string]string{}
			}
			out[g] = m[i]
		}
	}
	return out
}
