package syslog

import (
	"testing"
	"time"
)

// fuzzReceived is the receive time of fuzzed messages.
var fuzzReceived = time.Date(2026, 11, 25, 15, 42, 0, 0, time.UTC)

// FuzzParse: any message parses or is errMalformed, never panics, and an
// RFC 3164 timestamp always gets a year.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"<189>Dec 27 11:23:49 FGT-A-LOG CEF: 0|Fortinet|Fortigate|v6.0.3|13056|x|4|src=10.1.100.11",
		"<14>May 4 13:38:01 bilbo LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|9.0.2|allow|cat=TRAFFIC|src=1.2.3.4",
		"<38>Feb 29 10:00:00 h sshd[1]: Failed password for root from 203.0.113.9 port 52144 ssh2",
		"<13>Jan  1 00:00:01 h LEEF: x", "<13>May 4", "<13>1 2026-01-01T00:00:00Z h a - - - CEF:",
	} {
		f.Add([]byte(s))
	}
	p := newParser(nil)
	f.Fuzz(func(t *testing.T, in []byte) {
		ev, err := p.parse(in, fuzzReceived)
		if err != nil {
			if ev != nil {
				t.Fatal("event with error")
			}
			return
		}
		if ev.Format != "rfc3164" && ev.Format != "rfc5424" {
			t.Fatalf("format %q", ev.Format)
		}
		if ev.Format == "rfc3164" && ev.Time.Year() == 0 {
			t.Fatalf("RFC 3164 time %v left without a year", ev.Time)
		}
		_ = ev.Title()
	})
}
