package cef

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseLEEF parses "LEEF:1.0|Vendor|Product|Version|EventID|attributes"
// and "LEEF:2.0|Vendor|Product|Version|EventID|Delimiter|attributes".
//
// The LEEF 2.0 delimiter field is one character or its hex code ("^",
// "x09", "0x5E"); it is optional, and present when the next pipe comes
// before any '='. LEEF 1.0 specifies tabs, but devices use other
// separators (PAN-OS sends "cat=TRAFFIC|src=...|dst=..."), so where no
// delimiter is given it is detected: the byte that precedes the most
// "key=" in the attributes (see detectDelimiter).
// A delimiter inside a value that no key follows stays in the value.
func ParseLEEF(s string) (*Event, error) {
	if len(s) > MaxInput {
		return nil, fmt.Errorf("LEEF record of %d bytes exceeds %d", len(s), MaxInput)
	}
	rest, ok := strings.CutPrefix(s, "LEEF:")
	if !ok {
		return nil, ErrNotCEF
	}
	fields, attrs, err := splitHeader(rest, 5)
	if err != nil {
		return nil, fmt.Errorf("LEEF header: %w", err)
	}
	ev := &Event{
		Format:      "LEEF",
		Version:     strings.TrimSpace(fields[0]),
		Vendor:      fields[1],
		Product:     fields[2],
		DevVersion:  fields[3],
		SignatureID: fields[4],
	}
	var delim byte
	switch ev.Version {
	case "1.0", "1":
	case "2.0", "2":
		if p := strings.IndexByte(attrs, '|'); p >= 0 && !strings.Contains(attrs[:p], "=") {
			if d := attrs[:p]; d != "" {
				delim, err = leefDelimiter(d)
				if err != nil {
					return nil, err
				}
			}
			attrs = attrs[p+1:]
		}
	default:
		return nil, fmt.Errorf("LEEF version %q is not 1.0 or 2.0", ev.Version)
	}
	if delim == 0 {
		delim = detectDelimiter(attrs)
	}
	ev.Ext = splitPairs(attrs, delim, false)
	ev.Severity = strings.TrimSpace(ev.Ext["sev"])
	ev.Name = ev.Ext["name"] // not a LEEF header field, but vendors send it (Trend Micro)
	if len(ev.Ext) == 0 {
		ev.Ext = nil
	}
	return ev, nil
}

// leefDelimiter decodes a LEEF 2.0 delimiter field: one character, or a
// hex code with an optional "x" or "0x" prefix.
func leefDelimiter(d string) (byte, error) {
	if len(d) == 1 && d[0] != '=' {
		return d[0], nil
	}
	h := strings.ToLower(strings.TrimSpace(d))
	h = strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "x")
	n, err := strconv.ParseUint(h, 16, 8)
	if err != nil || n == 0 || n == '=' {
		return 0, fmt.Errorf("LEEF delimiter %q is neither one character nor a hex code", d)
	}
	return byte(n), nil
}

// delimiterPreference breaks ties between candidate delimiters: the LEEF
// default first, then the separators devices are known to use.
const delimiterPreference = "\t|^;,"

// detectDelimiter returns the byte that precedes the most "key=" starts in
// attrs: the separator that splits them into key=value pairs. A space,
// which free-text values also hold ("msg=user=bob action=login"), is
// chosen only when nothing else precedes a key. With no evidence (one
// attribute or none) it is the LEEF default, tab.
func detectDelimiter(attrs string) byte {
	var counts [256]int
	for i := 0; i < len(attrs); i++ {
		if attrs[i] != '=' {
			continue
		}
		j := i
		for j > 0 && isKeyByte(attrs[j-1]) {
			j--
		}
		if j > 0 && j < i && attrs[j-1] != '=' {
			counts[attrs[j-1]]++
		}
	}
	best := byte('\t')
	better := func(c byte) {
		if counts[c] > counts[best] {
			best = c
		}
	}
	for i := 0; i < len(delimiterPreference); i++ {
		better(delimiterPreference[i])
	}
	for c := 0; c < 256; c++ {
		if c != ' ' {
			better(byte(c))
		}
	}
	if counts[best] == 0 && counts[' '] > 0 {
		return ' '
	}
	return best
}
