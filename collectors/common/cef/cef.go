// Package cef parses ArcSight Common Event Format (CEF) and IBM QRadar Log
// Event Extended Format (LEEF) payloads into fields, and maps their
// standard keys to ACE observables. Every function here is pure: it takes
// outside input and returns a value or an error, never panics.
package cef

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Event is one parsed CEF or LEEF record.
type Event struct {
	Format      string            `json:"format"` // "CEF" or "LEEF"
	Version     string            `json:"version"`
	Vendor      string            `json:"vendor"`
	Product     string            `json:"product"`
	DevVersion  string            `json:"device_version"`
	SignatureID string            `json:"signature_id"`       // CEF Signature ID / LEEF EventID
	Name        string            `json:"name,omitempty"`     // CEF only
	Severity    string            `json:"severity,omitempty"` // CEF header severity; LEEF "sev"
	Ext         map[string]string `json:"extension,omitempty"`
}

// MaxInput bounds the size of a record the parsers accept.
const MaxInput = 1 << 20

// ErrNotCEF is returned when the input carries no CEF or LEEF marker.
var ErrNotCEF = errors.New("no CEF or LEEF header")

// Find locates a CEF or LEEF record inside a syslog message body and parses
// it: the first "CEF:" or "LEEF:" that a version and a pipe follow (spaces
// allowed after the colon, as FortiGate's "CEF: 0|Fortinet|..." has them).
// Text that merely mentions "CEF:" is ErrNotCEF. A syslog header that
// swallowed "CEF" as its tag is handled by the caller passing the tag back
// in front (see the syslog collector).
func Find(msg string) (*Event, error) {
	i, leef := locate(msg)
	switch {
	case i < 0:
		return nil, ErrNotCEF
	case leef:
		return ParseLEEF(msg[i:])
	}
	return ParseCEF(msg[i:])
}

// locate returns the offset of the first CEF or LEEF header in msg, or -1.
func locate(msg string) (at int, leef bool) {
	at = -1
	for _, marker := range []string{"CEF:", "LEEF:"} {
		for off := 0; off < len(msg); {
			j := strings.Index(msg[off:], marker)
			if j < 0 {
				break
			}
			j += off
			if startsVersion(msg[j+len(marker):]) {
				if at < 0 || j < at {
					at, leef = j, marker == "LEEF:"
				}
				break
			}
			off = j + len(marker)
		}
	}
	return at, leef
}

// startsVersion reports whether s starts with a header version: optional
// spaces, digits and dots, optional spaces, then a pipe.
func startsVersion(s string) bool {
	s = strings.TrimLeft(s, " ")
	n := 0
	for n < len(s) && n < 8 && (s[n] >= '0' && s[n] <= '9' || n > 0 && s[n] == '.') {
		n++
	}
	return n > 0 && strings.HasPrefix(strings.TrimLeft(s[n:], " "), "|")
}

// ParseCEF parses "CEF:Version|Device Vendor|Device Product|Device
// Version|Signature ID|Name|Severity|Extension". In the header a pipe and
// a backslash are escaped with a backslash; in the extension "\=", "\\",
// "\n" and "\r" are escapes and a value runs until the space before the
// next key.
func ParseCEF(s string) (*Event, error) {
	if len(s) > MaxInput {
		return nil, fmt.Errorf("CEF record of %d bytes exceeds %d", len(s), MaxInput)
	}
	rest, ok := strings.CutPrefix(s, "CEF:")
	if !ok {
		return nil, ErrNotCEF
	}
	fields, ext, err := splitHeader(rest, 7)
	if err != nil {
		return nil, fmt.Errorf("CEF header: %w", err)
	}
	ev := &Event{
		Format:      "CEF",
		Version:     strings.TrimSpace(fields[0]),
		Vendor:      fields[1],
		Product:     fields[2],
		DevVersion:  fields[3],
		SignatureID: fields[4],
		Name:        fields[5],
		Severity:    strings.TrimSpace(fields[6]),
	}
	if ev.Version != "0" && ev.Version != "1" {
		return nil, fmt.Errorf("CEF version %q is not 0 or 1", ev.Version)
	}
	ev.Ext = parseCEFExtension(ext)
	applyLabels(ev.Ext)
	return ev, nil
}

// splitHeader splits n pipe-separated, backslash-escaped header fields off
// s and returns them with the remainder after the n-th pipe. A header that
// ends after its n-th field without a closing pipe (a record without an
// extension, as PAN-OS sends some) has an empty remainder.
func splitHeader(s string, n int) ([]string, string, error) {
	fields := make([]string, 0, n)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s) && (s[i+1] == '|' || s[i+1] == '\\'):
			b.WriteByte(s[i+1])
			i++
		case c == '|':
			fields = append(fields, b.String())
			b.Reset()
			if len(fields) == n {
				return fields, s[i+1:], nil
			}
		default:
			b.WriteByte(c)
		}
	}
	if len(fields) == n-1 {
		if last := strings.TrimRight(b.String(), "\r\n"); last != "" {
			return append(fields, last), "", nil
		}
	}
	return nil, "", fmt.Errorf("want %d pipe-separated fields, found %d", n, len(fields))
}

// isKeyByte reports whether c may appear in a CEF extension key.
func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '.' || c == '-' || c == '[' || c == ']'
}

// parseCEFExtension splits "k1=v1 with spaces k2=v2" into a map (see
// splitPairs), with CEF's backslash escapes.
func parseCEFExtension(s string) map[string]string { return splitPairs(s, ' ', true) }

// splitPairs splits key=value pairs separated by delim. A key starts the
// string or follows delim and is followed by an unescaped '='; anything
// else belongs to the current value, so a value may hold delim itself
// ("URLCategory=a|b" with '|' separators). Text before the first key is
// kept under "_unparsed" so it is not lost. With escapes, "\=" and "\\"
// do not end a key and values are unescaped.
func splitPairs(s string, delim byte, escapes bool) map[string]string {
	type kv struct{ kStart, kEnd, vStart int }
	var keys []kv
	for i := 0; i < len(s); i++ {
		if escapes && s[i] == '\\' {
			i++ // skip the escaped byte
			continue
		}
		if s[i] != '=' {
			continue
		}
		j := i
		for j > 0 && isKeyByte(s[j-1]) {
			j--
		}
		if j == i || (j > 0 && s[j-1] != delim) {
			continue // not a key: '=' inside a value
		}
		keys = append(keys, kv{j, i, i + 1})
	}
	if len(keys) == 0 {
		if t := strings.TrimSpace(s); t != "" {
			return map[string]string{"_unparsed": t}
		}
		return nil
	}
	out := make(map[string]string, len(keys))
	d := string([]byte{delim})
	if pre := strings.TrimSpace(strings.TrimSuffix(s[:keys[0].kStart], d)); pre != "" {
		out["_unparsed"] = pre
	}
	for n, k := range keys {
		end := len(s)
		if n+1 < len(keys) {
			end = keys[n+1].kStart - 1 // the delimiter before the next key
		}
		v := s[k.vStart:max(end, k.vStart)]
		if n+1 == len(keys) {
			v = strings.TrimRight(v, "\r\n"+d)
		}
		if escapes {
			v = unescapeExt(v)
		}
		out[s[k.kStart:k.kEnd]] = v
	}
	return out
}

func unescapeExt(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '\\' || i+1 == len(v) {
			b.WriteByte(v[i])
			continue
		}
		i++
		switch v[i] {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		default: // \= \\ and anything else: the byte itself
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// applyLabels adds "label" keys for CEF custom fields: cs1Label=Foo cs1=bar
// also yields Foo=bar (unless Foo is already a key).
func applyLabels(ext map[string]string) {
	for k, label := range ext {
		base, ok := strings.CutSuffix(k, "Label")
		if !ok || base == "" || label == "" {
			continue
		}
		if v, ok := ext[base]; ok {
			if _, taken := ext[label]; !taken {
				ext[label] = v
			}
		}
	}
}

// SeverityNumber maps a CEF severity to 0..10: a number as is, or CEF 1's
// names (Unknown, Low, Medium, High, Very-High). ok is false otherwise.
func SeverityNumber(sev string) (int, bool) {
	sev = strings.TrimSpace(sev)
	if n, err := strconv.Atoi(sev); err == nil {
		return n, true
	}
	switch strings.ToLower(sev) {
	case "unknown":
		return 0, true
	case "low":
		return 3, true
	case "medium":
		return 6, true
	case "high":
		return 8, true
	case "very-high", "veryhigh", "very high":
		return 10, true
	}
	return 0, false
}
