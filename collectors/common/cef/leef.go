package cef

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseLEEF parses "LEEF:1.0|Vendor|Product|Version|EventID|attributes"
// (attributes separated by tabs) and "LEEF:2.0|Vendor|Product|Version|
// EventID|Delimiter|attributes", where the delimiter is one character or
// its hex code ("^", "x09", "0x5E"). A missing delimiter field in 2.0
// means a tab.
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
	delim := "\t"
	switch ev.Version {
	case "1.0", "1":
	case "2.0", "2":
		// The delimiter field is optional; it is present when the next
		// pipe comes before any '='.
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
	ev.Ext = map[string]string{}
	for _, a := range strings.Split(attrs, delim) {
		a = strings.TrimRight(a, "\r\n")
		if a == "" {
			continue
		}
		k, v, found := strings.Cut(a, "=")
		k = strings.TrimSpace(k)
		if !found || k == "" {
			ev.Ext["_unparsed"] = strings.TrimSpace(ev.Ext["_unparsed"] + " " + a)
			continue
		}
		ev.Ext[k] = v
	}
	ev.Severity = ev.Ext["sev"]
	if len(ev.Ext) == 0 {
		ev.Ext = nil
	}
	return ev, nil
}

func leefDelimiter(d string) (string, error) {
	if len(d) == 1 {
		return d, nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(d), "0"), "x")
	n, err := strconv.ParseUint(h, 16, 8)
	if err != nil || n == 0 {
		return "", fmt.Errorf("LEEF delimiter %q is neither one character nor a hex code", d)
	}
	return string([]byte{byte(n)}), nil
}
