package rules

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// Defaults are the collector-wide values a rule may override (ACE's
// [query_hunter] section).
type Defaults struct {
	MaxResultCount int           // ACE: 100
	MaxTimeRange   time.Duration // ACE: 24h
	QueryTimeout   time.Duration // ACE: 30m
}

// ACEDefaults are ACE's [query_hunter] values.
var ACEDefaults = Defaults{MaxResultCount: 100, MaxTimeRange: 24 * time.Hour, QueryTimeout: 30 * time.Minute}

// Options control loading.
type Options struct {
	// Type is the hunt type being loaded; a rule of another type fails
	// with ErrOtherType (and is skipped by callers, as ACE does). "" loads
	// any type.
	Type string
	// Resolve turns a relative `search` path into a file name (ACE:
	// relative to SAQ_HOME); nil leaves it as it is.
	Resolve func(string) string
	Defaults
}

// iniOptions read a rule file as Python's configparser (which ACE uses)
// reads it: no inline comments, no backslash continuation, quotes kept,
// indented lines continue a value, every key of a repeated key kept so a
// duplicate can be reported.
var iniOptions = ini.LoadOptions{
	IgnoreInlineComment:        true,
	IgnoreContinuation:         true,
	PreserveSurroundedQuote:    true,
	AllowPythonMultilineValues: true,
	AllowShadows:               true,
	SpaceBeforeInlineComment:   true,
}

// The keys of [rule] this project reads; earliest and latest appear in
// ACE's own test rules and are ignored there too.
var ruleKeys = []string{
	"type", "enabled", "name", "description", "alert_type", "analysis_mode", "frequency", "cron_schedule",
	"suppression", "tags", "queue", "time_range", "max_time_range", "full_coverage", "offset", "group_by",
	"use_index_time", "max_result_count", "query_timeout", "search", "query", "splunk_app_context",
	"splunk_user_context", "earliest", "latest", "index", "time_field",
}

// Load reads and parses the rule file at path.
func Load(path string, o Options) (*Rule, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("reading: %v", err)}
	}
	return Parse(path, data, o)
}

// Parse parses rule file text. path names the file in errors. Every
// problem is returned (joined), each an *Error naming the key. With an
// error the returned rule, when not nil, is incomplete: only its Path and
// Files (what to watch for a fix, such as a missing search file) count.
func Parse(path string, data []byte, o Options) (*Rule, error) {
	if !utf8.Valid(data) {
		return nil, &Error{File: path, Msg: "not UTF-8 text"}
	}
	f, err := ini.LoadSources(iniOptions, data)
	if err != nil {
		return nil, &Error{File: path, Msg: fmt.Sprintf("not an INI file: %v", err)}
	}
	p := &parser{path: path, f: f, o: o}
	r := p.rule()
	return r, errors.Join(p.errs...)
}

type parser struct {
	path string
	f    *ini.File
	o    Options
	errs []error
	warn []string
}

func (p *parser) errorf(section, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.path, Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// section returns the named section, or nil.
func (p *parser) section(name string) *ini.Section {
	s, err := p.f.GetSection(name)
	if err != nil {
		return nil
	}
	return s
}

// value reads key of sec (trimmed, configparser interpolation applied);
// ok is false when the key is absent. A key set twice is a problem, as
// in configparser's strict mode.
func (p *parser) value(sec *ini.Section, key string) (string, bool) {
	if sec == nil || !sec.HasKey(key) {
		return "", false
	}
	k := sec.Key(key)
	if vs := k.ValueWithShadows(); len(vs) > 1 {
		p.errorf(sec.Name(), key, "set %d times", len(vs))
	}
	v, err := interpolate(sec, trimLines(k.Value()), 0)
	if err != nil {
		p.errorf(sec.Name(), key, "%v", err)
	}
	return v, true
}

func (p *parser) rule() *Rule {
	sec := p.section("rule")
	if sec == nil {
		p.errorf("", "", "no [rule] section")
		return nil
	}
	r := &Rule{Path: p.path, Files: []string{p.path}, SplunkApp: "-", SplunkUser: "-"}
	r.Type = p.required(sec, "type")
	if p.o.Type != "" && r.Type != "" && r.Type != p.o.Type {
		p.errs = []error{fmt.Errorf("%s: type %q: %w (this collector runs %q hunts)", p.path, r.Type, ErrOtherType, p.o.Type)}
		return nil
	}
	r.Enabled = p.boolean(sec, "enabled", false) // ACE: missing means disabled
	r.Name = p.str(sec, "name", defaultName(p.path))
	if strings.TrimSpace(r.Name) == "" {
		p.errorf("rule", "name", "must not be empty")
	}
	r.Description = p.required(sec, "description")
	r.AlertType = p.str(sec, "alert_type", "")
	r.AnalysisMode = p.str(sec, "analysis_mode", "")
	r.Queue = p.str(sec, "queue", "")
	if v, ok := p.value(sec, "tags"); ok {
		r.Tags = collector.SplitList(v)
	}
	p.schedule(sec, r)
	r.Suppression = p.duration(sec, "suppression", 0)
	p.window(sec, r)
	r.GroupBy = p.str(sec, "group_by", "")
	r.UseIndexTime = p.boolean(sec, "use_index_time", false)
	r.MaxResultCount = p.o.MaxResultCount
	if v, ok := p.value(sec, "max_result_count"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			p.errorf("rule", "max_result_count", "%q is not a positive integer", v)
		} else {
			r.MaxResultCount = n
		}
	}
	r.QueryTimeout = p.duration(sec, "query_timeout", p.o.QueryTimeout)
	p.query(sec, r)
	r.SplunkApp = p.str(sec, "splunk_app_context", "-")
	r.SplunkUser = p.str(sec, "splunk_user_context", "-")
	r.Index = p.str(sec, "index", "")
	r.TimeField = p.str(sec, "time_field", "")
	for _, k := range sec.KeyStrings() {
		if !slices.Contains(ruleKeys, k) {
			p.warn = append(p.warn, fmt.Sprintf("%s: [rule] %s: unknown key (ignored)", p.path, k))
		}
	}
	p.mapping(r)
	p.temporal(r)
	p.directives(r)
	for _, s := range p.f.SectionStrings() {
		switch s {
		case ini.DefaultSection, "rule", "observable_mapping", "temporal_fields", "directives":
		default:
			p.warn = append(p.warn, fmt.Sprintf("%s: [%s]: unknown section (ignored)", p.path, s))
		}
	}
	if len(p.f.Section(ini.DefaultSection).KeyStrings()) > 0 {
		p.warn = append(p.warn, fmt.Sprintf("%s: keys before [rule] are ignored", p.path))
	}
	r.Warnings = p.warn
	return r
}

func (p *parser) str(sec *ini.Section, key, def string) string {
	if v, ok := p.value(sec, key); ok {
		return v
	}
	return def
}

func (p *parser) required(sec *ini.Section, key string) string {
	v, ok := p.value(sec, key)
	if !ok || v == "" {
		p.errorf(sec.Name(), key, "required")
	}
	return v
}

func (p *parser) boolean(sec *ini.Section, key string, def bool) bool {
	v, ok := p.value(sec, key)
	if !ok {
		return def
	}
	b, err := parseBool(v)
	if err != nil {
		p.errorf(sec.Name(), key, "%v", err)
		return def
	}
	return b
}

// parseBool accepts configparser's booleans.
func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "yes", "true", "on":
		return true, nil
	case "0", "no", "false", "off":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean (yes/no, true/false, on/off, 1/0)", v)
}

// duration parses ACE's [DD:]HH:MM:SS (and the Go forms collector
// accepts); def when the key is absent.
func (p *parser) duration(sec *ini.Section, key string, def time.Duration) time.Duration {
	v, ok := p.value(sec, key)
	if !ok || v == "" {
		return def
	}
	d, err := collector.ParseDuration(v)
	if err != nil {
		p.errorf(sec.Name(), key, "%v", err)
		return def
	}
	return d
}

// schedule reads frequency and cron_schedule: a frequency with ":" is an
// interval; otherwise cron_schedule (falling back to frequency) is a cron
// expression.
func (p *parser) schedule(sec *ini.Section, r *Rule) {
	freq, hasFreq := p.value(sec, "frequency")
	spec, hasCron := p.value(sec, "cron_schedule")
	switch {
	case hasFreq && strings.Contains(freq, ":"):
		d, err := collector.ParseDuration(freq)
		switch {
		case err != nil:
			p.errorf("rule", "frequency", "%v", err)
		case d <= 0:
			p.errorf("rule", "frequency", "must be longer than zero")
		default:
			r.Schedule = Every(d)
		}
		if hasCron {
			p.warn = append(p.warn, fmt.Sprintf("%s: [rule] cron_schedule: ignored, frequency %q is an interval", p.path, freq))
		}
	case hasCron && spec != "":
		r.Schedule = p.cron("cron_schedule", spec, "")
	case hasFreq && freq != "":
		r.Schedule = p.cron("frequency", freq, "neither [DD:]HH:MM:SS nor a cron expression: ")
	default:
		p.errorf("rule", "frequency", "required ([DD:]HH:MM:SS or a cron expression)")
	}
}

// cron parses a cron expression that fires (robfig's Next gives the zero
// time for one that never does, such as February 30th).
func (p *parser) cron(key, spec, prefix string) Schedule {
	s, err := ParseCron(spec)
	if err != nil {
		p.errorf("rule", key, "%s%v", prefix, err)
		return Schedule{}
	}
	if s.Next(time.Now()).IsZero() {
		p.errorf("rule", key, "cron expression %q never fires", spec)
		return Schedule{}
	}
	return s
}

// window reads time_range, max_time_range, full_coverage and offset.
func (p *parser) window(sec *ini.Section, r *Rule) {
	r.TimeRange = r.Schedule.Interval
	if r.Schedule.IsCron() {
		r.TimeRange = cronGap(r.Schedule)
	}
	if v, ok := p.value(sec, "time_range"); ok && v != "" {
		d, err := collector.ParseDuration(v)
		switch {
		case err != nil:
			p.errorf("rule", "time_range", "%v", err)
		case d <= 0:
			p.errorf("rule", "time_range", "must be longer than zero")
		default:
			r.TimeRange = d
		}
	}
	r.MaxTimeRange = p.duration(sec, "max_time_range", p.o.MaxTimeRange)
	if r.MaxTimeRange > 0 && r.TimeRange > r.MaxTimeRange {
		p.errorf("rule", "max_time_range", "%v is shorter than time_range %v", r.MaxTimeRange, r.TimeRange)
	}
	r.FullCoverage = p.boolean(sec, "full_coverage", false)
	r.Offset = p.duration(sec, "offset", 0)
}

// query reads search (a file, "#" lines stripped) or query (inline).
func (p *parser) query(sec *ini.Section, r *Rule) {
	search, hasSearch := p.value(sec, "search")
	inline, hasQuery := p.value(sec, "query")
	switch {
	case hasSearch && hasQuery:
		p.errorf("rule", "query", "search and query are both set; use one")
	case hasQuery:
		if strings.TrimSpace(inline) == "" {
			p.errorf("rule", "query", "empty")
		}
		r.Query = inline
	case hasSearch:
		if search == "" {
			p.errorf("rule", "search", "empty")
			return
		}
		path := search
		if p.o.Resolve != nil {
			path = p.o.Resolve(search)
		}
		r.SearchPath = path
		// A missing file is still a dependency: when it appears, the rule
		// reloads (ACE never notices).
		r.Files = append(r.Files, path)
		data, err := os.ReadFile(path)
		if err != nil {
			p.errorf("rule", "search", "%v", err)
			return
		}
		r.Query = StripComments(string(data))
		if strings.TrimSpace(r.Query) == "" {
			p.errorf("rule", "search", "%s holds no query", path)
		}
	default:
		p.errorf("rule", "search", "one of search (a query file) or query (inline) is required")
	}
}

var commentLine = regexp.MustCompile(`(?m)^[ \t]*#.*$`)

// StripComments removes lines whose first non-blank character is "#".
func StripComments(q string) string { return commentLine.ReplaceAllString(q, "") }

// typeName is what an observable type or directive may look like; the
// ACE node decides which names it knows.
var typeName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func (p *parser) mapping(r *Rule) {
	sec := p.section("observable_mapping")
	if sec == nil {
		return
	}
	for _, field := range sec.KeyStrings() {
		typ, _ := p.value(sec, field)
		if !typeName.MatchString(typ) {
			p.errorf("observable_mapping", field, "%q is not an observable type", typ)
			continue
		}
		r.Observables = append(r.Observables, Mapping{Field: field, Type: typ})
	}
}

// temporal reads [temporal_fields]: "field = yes" (or an empty value) is
// temporal, "field = no" is not (ACE treats both as temporal).
func (p *parser) temporal(r *Rule) {
	r.Temporal = map[string]bool{}
	sec := p.section("temporal_fields")
	if sec == nil {
		return
	}
	for _, field := range sec.KeyStrings() {
		v, _ := p.value(sec, field)
		if v == "" {
			r.Temporal[field] = true
			continue
		}
		b, err := parseBool(v)
		if err != nil {
			p.errorf("temporal_fields", field, "%v", err)
			continue
		}
		if b {
			r.Temporal[field] = true
		}
	}
}

// directives reads [directives]: "field = d1, d2:option=value:...".
func (p *parser) directives(r *Rule) {
	r.Directives = map[string][]Directive{}
	sec := p.section("directives")
	if sec == nil {
		return
	}
	for _, field := range sec.KeyStrings() {
		v, _ := p.value(sec, field)
		for _, item := range collector.SplitList(v) {
			d, err := parseDirective(item)
			if err != nil {
				p.errorf("directives", field, "%v", err)
				continue
			}
			r.Directives[field] = append(r.Directives[field], d)
		}
	}
}

func parseDirective(item string) (Directive, error) {
	parts := strings.Split(item, ":")
	d := Directive{Name: strings.TrimSpace(parts[0])}
	if !typeName.MatchString(d.Name) {
		return d, fmt.Errorf("%q is not a directive", d.Name)
	}
	for _, opt := range parts[1:] {
		name, val, ok := strings.Cut(opt, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return d, fmt.Errorf("directive %s: option %q is not name=value", d.Name, opt)
		}
		if d.Options == nil {
			d.Options = map[string]string{}
		}
		d.Options[name] = strings.TrimSpace(val)
	}
	return d, nil
}

// defaultName is ACE's default rule name: the file's base name without
// its extension, "_" as a space, title-cased as Python's str.title does
// ("test_2.ini" is "Test 2").
func defaultName(path string) string {
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	base = strings.ReplaceAll(base, "_", " ")
	var b strings.Builder
	prevCased := false
	for _, c := range base {
		cased := unicode.IsUpper(c) || unicode.IsLower(c) || unicode.IsTitle(c)
		switch {
		case cased && !prevCased:
			b.WriteRune(unicode.ToTitle(c))
		case cased:
			b.WriteRune(unicode.ToLower(c))
		default:
			b.WriteRune(c)
		}
		prevCased = cased
	}
	return b.String()
}

// trimLines trims the value and each of its lines, as configparser does
// with values continued on indented lines.
func trimLines(v string) string {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "\n") {
		return v
	}
	lines := strings.Split(v, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return strings.Join(lines, "\n")
}

var interpolation = regexp.MustCompile(`%\(([^)]*)\)s`)

// interpolate applies configparser's basic interpolation, which ACE's
// rule files are read with: "%%" is "%", "%(key)s" is another key of the
// same section. A lone "%" (an error in configparser) is kept as is.
func interpolate(sec *ini.Section, v string, depth int) (string, error) {
	if !strings.Contains(v, "%") {
		return v, nil
	}
	if depth > 10 {
		return "", errors.New("interpolation nested deeper than 10 levels")
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '%' {
			b.WriteByte(v[i])
			continue
		}
		if strings.HasPrefix(v[i:], "%%") {
			b.WriteByte('%')
			i++
			continue
		}
		m := interpolation.FindStringSubmatchIndex(v[i:])
		if m == nil || m[0] != 0 {
			b.WriteByte('%')
			continue
		}
		name := v[i+m[2] : i+m[3]]
		if !sec.HasKey(name) {
			return "", fmt.Errorf("%%(%s)s names no key of [%s]", name, sec.Name())
		}
		sub, err := interpolate(sec, trimLines(sec.Key(name).Value()), depth+1)
		if err != nil {
			return "", err
		}
		b.WriteString(sub)
		i += m[1] - 1
	}
	return b.String(), nil
}
