package syslog

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
)

// Whatever text a submission holds, its CEF and LEEF records are one line
// each that the project's parsers read back to the same fields and values.
func FuzzCEFRoundTrip(f *testing.F) {
	f.Add("desc", "tool", "type", "https://x/?a=b")
	f.Add("a|b\\c=d\ne", `\=`, "t|y", "v\r\n")
	f.Fuzz(func(t *testing.T, desc, tool, typ, url string) {
		if !utf8.ValidString(desc + tool + typ + url) {
			return
		}
		sub := collector.NewSubmission(desc)
		sub.Tool, sub.Type = tool, typ
		sub.AddObservable(collector.ObsURL, url)
		sub.AddObservable(collector.ObsIPv4, "192.0.2.1")
		line := Event{Vendor: "v", Product: "p", Version: "1", Severity: 5}.cef(sub, nil, time.Unix(0, 0))
		if strings.ContainsAny(line, "\r\n") {
			t.Fatalf("record spans lines: %q", line)
		}
		ev, err := cef.ParseCEF(line)
		if err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		oneLine := strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ").Replace
		if ev.SignatureID != oneLine(typ) || ev.Name != oneLine(desc) {
			t.Fatalf("header %q %q, want %q %q (record %q)", ev.SignatureID, ev.Name, typ, desc, line)
		}
		for k, want := range map[string]string{"cs1": tool, "msg": desc, "request": url, "src": "192.0.2.1"} {
			if ev.Ext[k] != want {
				t.Fatalf("%s = %q, want %q (record %q)", k, ev.Ext[k], want, line)
			}
		}
		// LEEF cannot escape its delimiter: tabs and line breaks become spaces.
		line = Event{Vendor: "v", Product: "p", Version: "1", Severity: 5}.leef(sub, nil, time.Unix(0, 0))
		if ev, err = cef.ParseLEEF(line); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		for k, want := range map[string]string{"tool": LEEFValue(tool), "name": LEEFValue(desc), "url": LEEFValue(url), "src": "192.0.2.1"} {
			if strings.TrimRight(ev.Ext[k], " ") != strings.TrimRight(want, " ") {
				t.Fatalf("LEEF %s = %q, want %q (record %q)", k, ev.Ext[k], want, line)
			}
		}
	})
}
