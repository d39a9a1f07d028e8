// Package mailrules routes email by regular-expression rules on header
// fields, the SMTP envelope or the raw message: a matching rule either
// drops the message or assigns it to collection groups. It replaces ACE's
// yara assignment and blacklist files and fixes their faults: a rule that
// does not compile is a configuration error, group assignments of all
// matching rules are united (ACE kept only the last match), and a rules
// file is reloaded when it changes.
//
// Rule syntax, in a collector section (NAME has no dots):
//
//	rule.NAME.header.Subject = (?i)invoice     ; any value of the field matches
//	rule.NAME.envelope.mail_from = @evil\.example$
//	rule.NAME.raw = X-Spam-Flag: YES          ; the raw message bytes (see Message.Raw)
//	rule.NAME.action = drop                   ; or assign (needs groups)
//	rule.NAME.groups = local, cloud
//
// In a rules file every section is a rule named after it, with the same
// keys without the "rule.NAME." prefix. All conditions of a rule must match.
package mailrules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"regexp"
	"strings"
	"sync"

	"github.com/ace-collector/ace-collector/collector"
)

// Message is what rules look at.
type Message struct {
	Header   textproto.MIMEHeader // decoded header fields
	Envelope map[string][]string  // SMTP envelope: mail_from, rcpt_to, helo, client_ip
	// Raw is the raw message, RawSize bytes. A raw condition reads it in
	// windows of RawWindow bytes overlapping by RawOverlap, so a large
	// message (a file) is never loaded whole: a message up to RawWindow
	// is matched exactly; in a larger one a match longer than RawOverlap
	// can be missed, and ^ and $ without (?m) also match at window edges.
	Raw     io.ReaderAt
	RawSize int64
}

// Windows for raw conditions (see Message.Raw).
const (
	RawWindow  = 1 << 20
	RawOverlap = 64 << 10
)

// RawBytes sets m's raw message to b (held in memory) and returns m.
func (m *Message) RawBytes(b []byte) *Message {
	m.Raw, m.RawSize = bytes.NewReader(b), int64(len(b))
	return m
}

type fieldRe struct {
	field string
	re    *regexp.Regexp
}

// Rule is one compiled rule.
type Rule struct {
	Name     string
	Drop     bool
	Groups   []string
	header   []fieldRe
	envelope []fieldRe
	raw      *regexp.Regexp
}

// Matches reports whether every condition of the rule holds for m.
func (r *Rule) Matches(m *Message) bool {
	for _, c := range r.header {
		if !anyMatch(c.re, headerValues(m.Header, c.field)) {
			return false
		}
	}
	for _, c := range r.envelope {
		if !anyMatch(c.re, m.Envelope[c.field]) {
			return false
		}
	}
	if r.raw != nil && !matchRaw(r.raw, m.Raw, m.RawSize) {
		return false
	}
	return true
}

var windowPool = sync.Pool{New: func() any { b := make([]byte, RawWindow); return &b }}

// matchRaw matches re against ra window by window. A read error ends the
// search without a match: the message could not be read, so it cannot
// be said to match.
func matchRaw(re *regexp.Regexp, ra io.ReaderAt, size int64) bool {
	if ra == nil || size <= 0 {
		return re.Match(nil)
	}
	bp := windowPool.Get().(*[]byte)
	defer windowPool.Put(bp)
	for off := int64(0); off < size; off += RawWindow - RawOverlap {
		w := (*bp)[:min(RawWindow, size-off)]
		n, err := ra.ReadAt(w, off)
		if n > 0 && re.Match(w[:n]) {
			return true
		}
		if err != nil && err != io.EOF || off+int64(len(w)) >= size {
			return false
		}
	}
	return false
}

func anyMatch(re *regexp.Regexp, vals []string) bool {
	for _, v := range vals {
		if re.MatchString(v) {
			return true
		}
	}
	return false
}

func headerValues(h textproto.MIMEHeader, name string) []string {
	if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

// Rules is an ordered list of rules.
type Rules []*Rule

// Decision is the outcome of evaluating rules against a message.
type Decision struct {
	Drop     bool
	DropRule string   // the first matching drop rule
	Groups   []string // union of the groups of every matching assign rule
	Matched  []string // names of all matching rules, in order
}

// Evaluate applies every rule to m.
func (rs Rules) Evaluate(m *Message) Decision {
	var d Decision
	for _, r := range rs {
		if !r.Matches(m) {
			continue
		}
		d.Matched = append(d.Matched, r.Name)
		if r.Drop {
			if !d.Drop {
				d.Drop, d.DropRule = true, r.Name
			}
			continue
		}
		for _, g := range r.Groups {
			if !contains(d.Groups, g) {
				d.Groups = append(d.Groups, g)
			}
		}
	}
	return d
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// builder assembles one rule from its keys and reports problems.
type builder struct {
	rule   *Rule
	action string
	conds  int
	errf   func(key, format string, args ...any)
}

func newBuilder(name string, errf func(key, format string, args ...any)) *builder {
	return &builder{rule: &Rule{Name: name}, errf: errf}
}

// set applies key (without the rule prefix) = value; full is the key as
// written, for error messages.
func (b *builder) set(key, full, value string) {
	compile := func() *regexp.Regexp {
		if value == "" {
			b.errf(full, "empty regular expression")
			return nil
		}
		re, err := regexp.Compile(value)
		if err != nil {
			b.errf(full, "bad regular expression: %v", err)
			return nil
		}
		b.conds++
		return re
	}
	lk := strings.ToLower(key)
	switch {
	case lk == "action":
		b.action = strings.ToLower(value)
		if b.action != "drop" && b.action != "assign" {
			b.errf(full, "%q is not one of drop, assign", value)
		}
	case lk == "groups":
		b.rule.Groups = collector.SplitList(value)
	case lk == "raw":
		if re := compile(); re != nil {
			b.rule.raw = re
		}
	case strings.HasPrefix(lk, "header.") && len(key) > len("header."):
		if re := compile(); re != nil {
			b.rule.header = append(b.rule.header, fieldRe{key[len("header."):], re})
		}
	case strings.HasPrefix(lk, "envelope."):
		f := lk[len("envelope."):]
		switch f {
		case "mail_from", "rcpt_to", "helo", "client_ip":
		default:
			b.errf(full, "unknown envelope field %q (want mail_from, rcpt_to, helo or client_ip)", f)
			return
		}
		if re := compile(); re != nil {
			b.rule.envelope = append(b.rule.envelope, fieldRe{f, re})
		}
	default:
		b.errf(full, "unknown rule key %q (want header.FIELD, envelope.FIELD, raw, action or groups)", key)
	}
}

// finish checks the rule as a whole; where names the rule in errors.
func (b *builder) finish(where string) *Rule {
	ok := true
	if b.conds == 0 {
		b.errf(where, "rule %q has no condition (header.FIELD, envelope.FIELD or raw)", b.rule.Name)
		ok = false
	}
	switch b.action {
	case "drop":
		b.rule.Drop = true
	case "assign", "":
		if len(b.rule.Groups) == 0 {
			b.errf(where, "rule %q assigns no groups (set groups, or action = drop)", b.rule.Name)
			ok = false
		}
	default:
		ok = false
	}
	if !ok {
		return nil
	}
	return b.rule
}

// FromSection reads the rule.NAME.* keys of a collector section. Problems
// are reported through sec, so validate lists them with section and key.
func FromSection(sec *collector.Section) Rules {
	byName := map[string]*builder{}
	var order []string
	for _, key := range sec.KeysWithPrefix("rule.") {
		rest := key[len("rule."):]
		name, sub, ok := strings.Cut(rest, ".")
		if !ok || name == "" || sub == "" {
			sec.Errorf(key, "want rule.NAME.KEY")
			continue
		}
		b := byName[name]
		if b == nil {
			b = newBuilder(name, sec.Errorf)
			byName[name] = b
			order = append(order, name)
		}
		b.set(sub, key, sec.String(key, ""))
	}
	var rs Rules
	for _, name := range order {
		if r := byName[name].finish("rule." + name); r != nil {
			rs = append(rs, r)
		}
	}
	return rs
}

// errList collects problems as errors naming file, section and key.
type errList struct {
	file string
	sec  string
	errs []error
}

func (e *errList) add(key, format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf("%s [%s] %s: %s", e.file, e.sec, key, fmt.Sprintf(format, args...)))
}

func (e *errList) err() error { return errors.Join(e.errs...) }
