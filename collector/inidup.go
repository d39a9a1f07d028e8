package collector

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"

	"github.com/go-ini/ini"
)

// INIDuplicates reports every section header and every key that appears a
// second time in one INI file. go-ini merges a repeated section into the
// first and lets a repeated key overwrite the earlier value, silently, so a
// copy-pasted [collector_x] or a second "directory =" would change the
// configuration without a word. Each error names the file, the line of the
// repeat and the line of the first occurrence, e.g.
//
//	file.ini:12: [collector_x] key "directory" also set at line 7
//	file.ini:30: section [collector_x] also starts at line 3
//
// It follows go-ini's syntax as the daemon loads it (case-sensitive names,
// "=" or ":" delimiters, ";"/"#" comment lines, quoted keys, continuation
// lines ending in "\", values spanning lines in """ or `). Lines go-ini
// would refuse are skipped here: loading the file reports them. Repeats
// across several files are overrides, not mistakes, and are not checked.
func INIDuplicates(file string, data []byte) []error {
	type first struct{ section, key string }
	seen := map[first]int{}
	var errs []error
	for _, e := range scanINI(data) {
		at, dup := seen[first{e.section, e.key}]
		switch {
		case dup && e.key == "":
			errs = append(errs, fmt.Errorf("%s:%d: section [%s] also starts at line %d", file, e.line, e.section, at))
		case dup:
			errs = append(errs, fmt.Errorf("%s:%d: [%s] key %q also set at line %d", file, e.line, e.section, e.key, at))
		default:
			seen[first{e.section, e.key}] = e.line
		}
	}
	return errs
}

// iniEntry is a section header (key "") or a key, at a 1-based line.
type iniEntry struct {
	line    int
	section string
	key     string
}

// scanINI lists the section headers and keys of data in order, as go-ini's
// parser (v1.67, IgnoreContinuation and AllowBooleanKeys off) reads them.
// Keys before any header belong to go-ini's DEFAULT section.
func scanINI(data []byte) []iniEntry {
	lines := splitKeepNewline(stripBOM(data))
	section, autoKey := ini.DefaultSection, 1
	var out []iniEntry
	for i := 0; i < len(lines); i++ {
		line := strings.TrimLeftFunc(lines[i], unicode.IsSpace)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		if line[0] == '[' {
			end := strings.LastIndexByte(line, ']')
			if end <= 1 {
				continue // unclosed or empty: go-ini refuses the file
			}
			section, autoKey = line[1:end], 1
			out = append(out, iniEntry{line: i + 1, section: section})
			continue
		}
		key, valueAt, ok := iniKey(line)
		if !ok {
			continue
		}
		if key == "-" { // go-ini numbers "-" keys #1, #2... per header
			key = "#" + strconv.Itoa(autoKey)
			autoKey++
		}
		out = append(out, iniEntry{line: i + 1, section: section, key: key})
		i += iniValueLines(line[valueAt:], lines[i+1:])
	}
	return out
}

// iniKey returns a key line's name and where its value starts, as go-ini's
// readKeyName does with the delimiters "=:".
func iniKey(line string) (name string, valueAt int, ok bool) {
	quote := ""
	switch {
	case strings.HasPrefix(line, `"""`) && len(line) > 6:
		quote = `"""`
	case line[0] == '"':
		quote = `"`
	case line[0] == '`':
		quote = "`"
	}
	if quote == "" {
		end := strings.IndexAny(line, "=:")
		if end <= 0 {
			return "", 0, false
		}
		return strings.TrimSpace(line[:end]), end + 1, true
	}
	start := len(quote)
	pos := strings.Index(line[start:], quote)
	if pos < 0 {
		return "", 0, false
	}
	pos += start
	delim := strings.IndexAny(line[pos+start:], "=:")
	if delim < 0 {
		return "", 0, false
	}
	name = strings.TrimSpace(line[start:pos])
	return name, pos + delim + start + 1, name != ""
}

// iniValueLines returns how many of the following lines a value takes:
// up to the closing """ or ` of a quoted value left open, or through a
// chain of lines ending in "\" (go-ini's continuation lines).
func iniValueLines(value string, next []string) int {
	value = strings.TrimLeftFunc(value, unicode.IsSpace)
	if value == "" {
		return 0
	}
	quote := ""
	switch {
	case strings.HasPrefix(value, `"""`) && len(value) > 3:
		quote = `"""`
	case value[0] == '`':
		quote = "`"
	}
	if quote != "" {
		if strings.Contains(value[len(quote):], quote) {
			return 0
		}
		for j, l := range next {
			if strings.Contains(l, quote) {
				return j + 1
			}
		}
		return len(next)
	}
	if value = strings.TrimSpace(value); value[len(value)-1] != '\\' {
		return 0
	}
	for j, l := range next {
		if l = strings.TrimSpace(l); l == "" || l[len(l)-1] != '\\' {
			return j + 1
		}
	}
	return len(next)
}

// stripBOM drops a byte order mark the way go-ini does: three bytes of
// UTF-8's, two of UTF-16's (which go-ini then reads as bytes, not UTF-16).
func stripBOM(data []byte) []byte {
	switch {
	case len(data) >= 2 && (data[0] == 0xFE && data[1] == 0xFF || data[0] == 0xFF && data[1] == 0xFE):
		return data[2:]
	case len(data) >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF:
		return data[3:]
	}
	return data
}

// splitKeepNewline splits data into lines that keep their "\n", as go-ini
// reads them (its quote searches see the newline).
func splitKeepNewline(data []byte) []string {
	var lines []string
	for s := string(data); s != ""; {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			lines = append(lines, s)
			break
		}
		lines = append(lines, s[:i+1])
		s = s[i+1:]
	}
	return lines
}
