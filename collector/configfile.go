package collector

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/go-ini/ini"
)

// ConfigFile is a loaded INI configuration shared by every package that
// reads it. Each section is wrapped once, so several packages can each parse
// the keys they own from the same section and the daemon reports the keys
// nobody read exactly once, at Done. No package keeps a list of another
// package's keys.
type ConfigFile struct {
	f     *ini.File
	p     *Problems
	secs  map[string]*Section
	order []string
	empty *ini.File
}

// NewConfigFile wraps f; problems go to p.
func NewConfigFile(f *ini.File, p *Problems) *ConfigFile {
	return &ConfigFile{f: f, p: p, secs: map[string]*Section{}, empty: ini.Empty()}
}

// Problems is where configuration problems are recorded.
func (c *ConfigFile) Problems() *Problems { return c.p }

// INI is the underlying file (read-only use).
func (c *ConfigFile) INI() *ini.File { return c.f }

// Has reports whether the file has section name.
func (c *ConfigFile) Has(name string) bool { return c.f.HasSection(name) }

// Section returns the shared wrapper of section name. A section that is not
// in the file reads as empty (and is not added to the file).
func (c *ConfigFile) Section(name string) *Section {
	if s, ok := c.secs[name]; ok {
		return s
	}
	var raw *ini.Section
	if c.f.HasSection(name) {
		raw = c.f.Section(name)
	} else {
		raw = c.empty.Section(name)
	}
	s := NewSection(raw, c.p)
	c.secs[name] = s
	c.order = append(c.order, name)
	return s
}

// WithPrefix returns the shared wrappers of every section whose name starts
// with prefix, in file order, with the rest of the name.
func (c *ConfigFile) WithPrefix(prefix string) []Named {
	var out []Named
	for _, name := range c.f.SectionStrings() {
		if rest, ok := strings.CutPrefix(name, prefix); ok {
			out = append(out, Named{Name: rest, Section: c.Section(name)})
		}
	}
	return out
}

// Named is a section with the NAME part of [prefix_NAME].
type Named struct {
	Name    string
	Section *Section
}

// Done reports, for every section some package read, the keys nobody read.
func (c *ConfigFile) Done() {
	for _, name := range c.order {
		c.secs[name].Done()
	}
}

// Untouched lists the file's sections no package read (DEFAULT excluded).
func (c *ConfigFile) Untouched() []string {
	var out []string
	for _, name := range c.f.SectionStrings() {
		if _, ok := c.secs[name]; !ok && name != ini.DefaultSection {
			out = append(out, name)
		}
	}
	return out
}

// Lenient makes unknown keys in this section warnings instead of errors,
// unless they are near-misses of a key the section does use (a typo, which
// stays an error with a "did you mean"). For sections ACE also owns, where
// an ACE configuration carries keys this project has no use for.
func (s *Section) Lenient(why string) {
	s.lenient = true
	s.lenientWhy = why
}

// Warnf records a warning about key.
func (s *Section) Warnf(key, format string, args ...any) {
	s.p.Warn(s.sec.Name(), key, format, args...)
}

// Keys returns the section's keys in file order.
func (s *Section) Keys() []string { return s.sec.KeyStrings() }

// Value returns key's raw value (trimmed) and marks it read.
func (s *Section) Value(key string) string { v, _ := s.raw(key); return v }

// ListenAddr reads a host:port listen address. An empty host would listen on
// every interface by accident, so the host is required ("0.0.0.0" or "[::]"
// says it on purpose).
func (s *Section) ListenAddr(key, def string) string {
	v := s.String(key, def)
	if v == "" {
		return v
	}
	if err := CheckListenAddr(v); err != nil {
		s.Errorf(key, "%v", err)
	}
	return v
}

// CheckListenAddr checks a host:port listen address.
func CheckListenAddr(v string) error {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return fmt.Errorf("listen address %q: want host:port (e.g. 127.0.0.1:2525): %w", v, err)
	}
	if host == "" {
		return fmt.Errorf("listen address %q has no host: name one (127.0.0.1, or 0.0.0.0 for every interface)", v)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("listen address %q: bad port: %w", v, err)
	}
	return nil
}

// ExistingFile reads a path (resolved with g.Path) that must name an
// existing regular file when set.
func (s *Section) ExistingFile(key string, g Global) string {
	v := g.Path(s.String(key, ""))
	if v == "" {
		return v
	}
	st, err := os.Stat(v)
	switch {
	case err != nil:
		s.Errorf(key, "%v", err)
	case st.IsDir():
		s.Errorf(key, "%s is a directory, want a file", v)
	}
	return v
}

func (s *Section) unknownKey(k string) {
	used := make([]string, 0, len(s.used))
	for u := range s.used {
		used = append(used, u)
	}
	if near := Nearest(k, used); near != "" {
		s.Errorf(k, "unknown key (did you mean %q?)", near)
		return
	}
	if s.lenient {
		s.Warnf(k, "not used by ace-collector%s", s.lenientWhy)
		return
	}
	s.Errorf(k, "unknown key")
}

// Nearest returns the candidate within edit distance 2 of name (and closer
// than half its length), or "" if none is that close.
func Nearest(name string, candidates []string) string {
	sort.Strings(candidates)
	best, bestD := "", 3
	for _, c := range candidates {
		if c == name {
			continue
		}
		if d := editDistance(strings.ToLower(name), strings.ToLower(c)); d < bestD && d*2 < len(name) {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ExpandEnv replaces ${NAME} in every value of f from lookup. A variable
// that is not set is a problem naming the section, key and variable, so a
// secret kept in the environment cannot silently become an empty string.
func ExpandEnv(f *ini.File, p *Problems, lookup func(string) (string, bool)) {
	for _, sec := range f.Sections() {
		for _, k := range sec.Keys() {
			v := k.Value()
			if !strings.Contains(v, "${") {
				continue
			}
			out := envRef.ReplaceAllStringFunc(v, func(ref string) string {
				name := envRef.FindStringSubmatch(ref)[1]
				val, ok := lookup(name)
				if !ok {
					p.Add(sec.Name(), k.Name(), "environment variable %s is not set", name)
				}
				return val
			})
			k.SetValue(out)
		}
	}
}

// KnownKeys lists the keys some package has read (or ignored) in this
// section so far, sorted: what the section understands. Docs tests compare
// it with the documentation.
func (s *Section) KnownKeys() []string {
	out := make([]string, 0, len(s.used))
	for k := range s.used {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
