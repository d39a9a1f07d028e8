package mailrules

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// LoadFile reads a rules file: one INI section per rule.
func LoadFile(path string) (Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading rules file: %w", err)
	}
	return parseFile(path, data)
}

func parseFile(path string, data []byte) (Rules, error) {
	f, err := ini.LoadSources(ini.LoadOptions{
		IgnoreInlineComment:        true, // regexes may contain ; and #
		SpaceBeforeInlineComment:   true,
		UnescapeValueDoubleQuotes:  false,
		AllowPythonMultilineValues: false,
	}, data)
	if err != nil {
		return nil, fmt.Errorf("parsing rules file %s: %w", path, err)
	}
	var rs Rules
	el := &errList{file: path}
	for _, sec := range f.Sections() {
		if sec.Name() == ini.DefaultSection {
			if len(sec.Keys()) > 0 {
				el.sec = "DEFAULT"
				el.add(sec.Keys()[0].Name(), "keys outside a [rule] section")
			}
			continue
		}
		el.sec = sec.Name()
		b := newBuilder(sec.Name(), el.add)
		for _, k := range sec.Keys() {
			b.set(k.Name(), k.Name(), k.String())
		}
		if r := b.finish("rule"); r != nil {
			rs = append(rs, r)
		}
	}
	if err := el.err(); err != nil {
		return nil, err
	}
	return rs, nil
}

// Set is a collector's rules: the inline ones from its section followed by
// those of an optional rules file, which Refresh reloads when its content
// changes. A file that no longer loads leaves the previous rules in force.
type Set struct {
	inline Rules
	path   string

	mu        sync.RWMutex
	file      Rules
	content   []byte
	lastCheck time.Time
}

// NewSet loads path (if not empty) and returns the combined set.
func NewSet(inline Rules, path string) (*Set, error) {
	s := &Set{inline: inline, path: path}
	if path != "" {
		if _, err := s.Refresh(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Refresh reloads the rules file if its content changed. It reports
// whether new rules took effect; on error the old rules stay.
func (s *Set) Refresh() (bool, error) {
	if s.path == "" {
		return false, nil
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return false, fmt.Errorf("reading rules file: %w", err)
	}
	s.mu.RLock()
	same := s.content != nil && bytes.Equal(data, s.content)
	s.mu.RUnlock()
	if same {
		return false, nil
	}
	rs, err := parseFile(s.path, data)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	s.file, s.content = rs, data
	s.mu.Unlock()
	return true, nil
}

// MaybeRefresh is Refresh at most once per interval.
func (s *Set) MaybeRefresh(interval time.Duration) (bool, error) {
	if s.path == "" {
		return false, nil
	}
	s.mu.Lock()
	due := time.Since(s.lastCheck) >= interval
	if due {
		s.lastCheck = time.Now()
	}
	s.mu.Unlock()
	if !due {
		return false, nil
	}
	return s.Refresh()
}

// Len is the number of rules in force.
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.inline) + len(s.file)
}

// Evaluate applies the inline rules, then the file's.
func (s *Set) Evaluate(m *Message) Decision {
	s.mu.RLock()
	all := make(Rules, 0, len(s.inline)+len(s.file))
	all = append(append(all, s.inline...), s.file...)
	s.mu.RUnlock()
	return all.Evaluate(m)
}

// FromConfig reads a collector section's rule.* keys, rules_file and
// rules_check_interval (default 5s). Relative paths are taken from baseDir.
// Problems are reported through sec; the returned set is never nil.
func FromConfig(sec *collector.Section, g collector.Global) (*Set, time.Duration) {
	inline := FromSection(sec)
	path := g.Path(sec.String("rules_file", ""))
	every := sec.Duration("rules_check_interval", 5*time.Second)
	set, err := NewSet(inline, path)
	if err != nil {
		sec.Errorf("rules_file", "%v", err)
		set = &Set{inline: inline}
	}
	return set, every
}
