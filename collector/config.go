package collector

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-ini/ini"
)

// ConfigError is one problem in an INI file, named by section and key.
type ConfigError struct {
	Section string
	Key     string
	Msg     string
}

func (e *ConfigError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("[%s]: %s", e.Section, e.Msg)
	}
	return fmt.Sprintf("[%s] %s: %s", e.Section, e.Key, e.Msg)
}

// Problems accumulates configuration errors so validate can print all of
// them at once instead of stopping at the first. Warnings (keys of ACE's
// that this project does not use, features it replaces) are kept apart:
// they are printed but do not make a configuration invalid.
type Problems struct{ list, warnings []error }

// Warn records a warning.
func (p *Problems) Warn(section, key, format string, args ...any) {
	p.warnings = append(p.warnings, &ConfigError{Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// Warnings returns the warnings in the order they were found.
func (p *Problems) Warnings() []error { return p.warnings }

// Add records a problem.
func (p *Problems) Add(section, key, format string, args ...any) {
	p.list = append(p.list, &ConfigError{Section: section, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// AddErr records an error as is (it should already name its section).
func (p *Problems) AddErr(err error) {
	if err != nil {
		p.list = append(p.list, err)
	}
}

// List returns the problems in the order they were found.
func (p *Problems) List() []error { return p.list }

// Err returns nil or all problems joined.
func (p *Problems) Err() error { return errors.Join(p.list...) }

// Section reads typed values from one INI section, recording bad values
// and, at Done, keys nobody asked for (usually typos).
type Section struct {
	sec  *ini.Section
	used map[string]bool
	p    *Problems
	// lenient: unknown keys are warnings (see Lenient).
	lenient    bool
	lenientWhy string
	done       bool
}

// NewSection wraps sec; problems go to p.
func NewSection(sec *ini.Section, p *Problems) *Section {
	return &Section{sec: sec, used: map[string]bool{}, p: p}
}

// Name is the section name.
func (s *Section) Name() string { return s.sec.Name() }

// Has reports whether key is set.
func (s *Section) Has(key string) bool { return s.sec.HasKey(key) }

// Errorf records a problem with key.
func (s *Section) Errorf(key, format string, args ...any) {
	s.p.Add(s.sec.Name(), key, format, args...)
}

// Ignore marks keys as known without reading them.
func (s *Section) Ignore(keys ...string) {
	for _, k := range keys {
		s.used[k] = true
	}
}

func (s *Section) raw(key string) (string, bool) {
	s.used[key] = true
	if !s.sec.HasKey(key) {
		return "", false
	}
	return strings.TrimSpace(s.sec.Key(key).String()), true
}

// String returns key's value or def.
func (s *Section) String(key, def string) string {
	if v, ok := s.raw(key); ok {
		return v
	}
	return def
}

// Required returns key's value, recording a problem if it is absent or empty.
func (s *Section) Required(key string) string {
	v, ok := s.raw(key)
	if !ok || v == "" {
		s.Errorf(key, "required")
	}
	return v
}

// Bool parses yes/no, true/false, on/off, 1/0.
func (s *Section) Bool(key string, def bool) bool {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return def
	}
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1", "y":
		return true
	case "no", "false", "off", "0", "n":
		return false
	}
	s.Errorf(key, "%q is not a boolean (yes/no)", v)
	return def
}

// Int parses an integer within [min, max].
func (s *Section) Int(key string, def, min, max int) int {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		s.Errorf(key, "%q is not an integer", v)
		return def
	}
	if n < min || n > max {
		s.Errorf(key, "%d is out of range %d..%d", n, min, max)
		return def
	}
	return n
}

// Size parses a byte size such as 512, 10k, 25M, 1G.
func (s *Section) Size(key string, def int64) int64 {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return def
	}
	n, err := ParseSize(v)
	if err != nil {
		s.Errorf(key, "%v", err)
		return def
	}
	return n
}

// Duration parses Go durations ("90s", "5m") and ACE's [DD:]HH:MM:SS form;
// a bare number is seconds.
func (s *Section) Duration(key string, def time.Duration) time.Duration {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return def
	}
	d, err := ParseDuration(v)
	if err != nil {
		s.Errorf(key, "%v", err)
		return def
	}
	return d
}

// List splits a comma-separated value, trimming items and dropping empty ones.
func (s *Section) List(key string) []string {
	v, ok := s.raw(key)
	if !ok {
		return nil
	}
	return SplitList(v)
}

// Regexp compiles key's value; a compile error is a problem.
func (s *Section) Regexp(key string) *regexp.Regexp {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return nil
	}
	re, err := regexp.Compile(v)
	if err != nil {
		s.Errorf(key, "bad regular expression: %v", err)
		return nil
	}
	return re
}

// OneOf returns key's value if it is one of choices.
func (s *Section) OneOf(key, def string, choices ...string) string {
	v, ok := s.raw(key)
	if !ok || v == "" {
		return def
	}
	for _, c := range choices {
		if strings.EqualFold(v, c) {
			return c
		}
	}
	s.Errorf(key, "%q is not one of %s", v, strings.Join(choices, ", "))
	return def
}

// KeysWithPrefix returns the section's keys starting with prefix, sorted,
// and marks them used.
func (s *Section) KeysWithPrefix(prefix string) []string {
	var out []string
	for _, k := range s.sec.KeyStrings() {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
			s.used[k] = true
		}
	}
	sort.Strings(out)
	return out
}

// Done records every key that was never read as unknown (once, however
// often it is called).
func (s *Section) Done() {
	if s.done {
		return
	}
	s.done = true
	for _, k := range s.sec.KeyStrings() {
		if !s.used[k] {
			s.unknownKey(k)
		}
	}
}

// SplitList splits a comma-separated list, trimming and dropping empties.
func SplitList(v string) []string {
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// maxDurationSeconds is the largest whole number of seconds a
// time.Duration holds (about 292 years).
const maxDurationSeconds = math.MaxInt64 / int64(time.Second)

// ParseDuration parses Go durations ("90s", "5m"), ACE's [DD:]HH:MM:SS form
// and a bare decimal number of seconds ("30", "1.5"). Negative values, NaN,
// infinities and values past time.Duration's range (about 292 years) are
// errors: converting them would give a negative or arbitrary duration.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "-") {
		return 0, fmt.Errorf("duration %q is negative", v)
	}
	if isDecimal(v) {
		n, err := strconv.ParseFloat(v, 64)
		// float64(math.MaxInt64) rounds up to 2^63, so >= rejects exactly
		// what does not fit.
		if err != nil || n*float64(time.Second) >= math.MaxInt64 {
			return 0, fmt.Errorf("duration %q is too large (at most %d seconds)", v, maxDurationSeconds)
		}
		return time.Duration(n * float64(time.Second)), nil
	}
	if strings.Contains(v, ":") {
		return parseClock(v)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("duration %q: want e.g. 30s, 5m, 1h, HH:MM:SS or a number of seconds (at most %d)", v, maxDurationSeconds)
	}
	if d < 0 {
		return 0, fmt.Errorf("duration %q is negative", v)
	}
	return d, nil
}

// parseClock parses [DD:]HH:MM:SS; each field is unsigned decimal digits,
// and the total must fit a time.Duration.
func parseClock(v string) (time.Duration, error) {
	parts := strings.Split(v, ":")
	if len(parts) < 3 || len(parts) > 4 {
		return 0, fmt.Errorf("duration %q: want [DD:]HH:MM:SS", v)
	}
	mult := []int64{1, 60, 3600, 86400}
	var secs int64
	for i := range parts {
		f := parts[len(parts)-1-i]
		if !isDigits(f) {
			return 0, fmt.Errorf("duration %q: want [DD:]HH:MM:SS", v)
		}
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n > (maxDurationSeconds-secs)/mult[i] {
			return 0, fmt.Errorf("duration %q is too large (at most %d seconds)", v, maxDurationSeconds)
		}
		secs += n * mult[i]
	}
	return time.Duration(secs) * time.Second, nil
}

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isDecimal reports whether s is digits with an optional fraction ("30",
// "1.5", "2.", ".5"), the only bare numbers accepted as seconds: no sign,
// exponent, hex, NaN or Inf.
func isDecimal(s string) bool {
	whole, frac, dot := strings.Cut(s, ".")
	if !dot {
		return isDigits(whole)
	}
	return (whole == "" || isDigits(whole)) && (frac == "" || isDigits(frac)) && whole+frac != ""
}

// ParseSize parses 512, 10k, 10KB, 25M, 1G (binary multiples). Signs and
// values past int64 are errors.
func ParseSize(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "IB"), "B")
	mult := int64(1)
	if s != "" {
		switch s[len(s)-1] {
		case 'K':
			mult, s = 1<<10, s[:len(s)-1]
		case 'M':
			mult, s = 1<<20, s[:len(s)-1]
		case 'G':
			mult, s = 1<<30, s[:len(s)-1]
		}
	}
	s = strings.TrimSpace(s)
	if !isDigits(s) {
		return 0, fmt.Errorf("size %q: want a number with an optional k, M or G suffix", v)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q is too large (at most %d bytes)", v, int64(math.MaxInt64))
	}
	return n * mult, nil
}
