package syslog

import (
	"strings"
	"testing"
	"time"
)

// testReceived is the receive time parser tests use (RFC 3164 years are
// decided from it).
var testReceived = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in           string
		format, host, app  string
		msg                string
		sev                int
		cefSig             string
		partial, malformed bool
	}{
		{name: "rfc5424", in: `<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [ex@32473 iut="3"] An application event`,
			format: "rfc5424", host: "mymachine.example.com", app: "evntslog", msg: "An application event", sev: 5},
		{name: "rfc3164", in: "<13>Nov 23 23:30:00 myhost sshd[42]: Failed password for root from 203.0.113.5\n",
			format: "rfc3164", host: "myhost", app: "sshd", msg: "Failed password for root from 203.0.113.5", sev: 5},
		{name: "rfc3164 cef", in: "<134>Jan  1 00:00:00 fw CEF:0|Vend|Prod|1|4711|Port scan|8|src=10.0.0.1 dst=10.0.0.2",
			format: "rfc3164", host: "fw", msg: "CEF:0|Vend|Prod|1|4711|Port scan|8|src=10.0.0.1 dst=10.0.0.2", sev: 6, cefSig: "4711"},
		{name: "rfc5424 leef", in: "<14>1 2024-01-02T03:04:05Z qr app - - - LEEF:1.0|V|P|1|E42|src=1.2.3.4\tdst=5.6.7.8",
			format: "rfc5424", host: "qr", app: "app", msg: "LEEF:1.0|V|P|1|E42|src=1.2.3.4\tdst=5.6.7.8", sev: 6, cefSig: "E42"},
		{name: "no pri", in: "just some text", format: "rfc3164", msg: "just some text", sev: 5, partial: true},
		{name: "bad pri", in: "<999>x", malformed: true},
		{name: "empty", in: "\r\n", malformed: true},
	}
	p := newParser(nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := p.parse([]byte(tt.in), testReceived)
			if tt.malformed {
				if err == nil {
					t.Fatalf("parsed %+v, want malformed", ev)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Format != tt.format || ev.Hostname != tt.host || ev.AppName != tt.app || ev.Message != tt.msg || ev.Severity != tt.sev {
				t.Errorf("got %s host=%q app=%q msg=%q sev=%d", ev.Format, ev.Hostname, ev.AppName, ev.Message, ev.Severity)
			}
			if (ev.ParseError != "") != tt.partial {
				t.Errorf("parse error %q, partial want %v", ev.ParseError, tt.partial)
			}
			if tt.cefSig != "" {
				if sig, _ := ev.Field("signature"); sig != tt.cefSig {
					t.Errorf("signature %q, want %q", sig, tt.cefSig)
				}
			}
		})
	}
}

func TestFieldsAndTitle(t *testing.T) {
	ev, err := newParser(nil).parse([]byte(`<134>1 2024-01-02T03:04:05Z fw app - - [meta@1 zone="dmz"] CEF:1|V|P|1|sig9|Evil thing|High|src=10.0.0.1 cs1Label=Policy cs1=strict`), testReceived)
	if err != nil {
		t.Fatal(err)
	}
	for f, want := range map[string]string{"signature": "sig9", "name": "Evil thing", "cef_severity": "8",
		"src": "10.0.0.1", "Policy": "strict", "ext.Policy": "strict", "ext.src": "10.0.0.1", "sd.meta@1.zone": "dmz", "hostname": "fw", "severity": "6"} {
		if got, ok := ev.Field(f); !ok || got != want {
			t.Errorf("Field(%q) = %q,%v want %q", f, got, ok, want)
		}
	}
	if _, ok := ev.Field("nope"); ok {
		t.Error("unknown field found")
	}
	if got := ev.Title(); got != "CEF V P: Evil thing" {
		t.Errorf("title %q", got)
	}
	if !ev.EventTime().Equal(time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("event time %v", ev.EventTime())
	}
	long := &Event{Message: strings.Repeat("é", 300)}
	if got := long.Title(); len(got) > 210 || !strings.HasSuffix(got, "…") {
		t.Errorf("long title %q", got)
	}
}

func TestRFC3164Timezone(t *testing.T) {
	loc, err := time.LoadLocation("Etc/GMT-2") // UTC+2
	if err != nil {
		t.Skipf("no zoneinfo: %v", err)
	}
	ev, err := newParser(loc).parse([]byte("<13>Mar  4 12:00:00 h app: x"), testReceived)
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.Time.UTC(); got.Month() != time.March || got.Day() != 4 || got.Hour() != 10 {
		t.Errorf("time %v, want 10:00 UTC", got)
	}
	if _, err := build(t, "listen_udp = 127.0.0.1:0\nrfc3164_timezone = Mars/Olympus"); err == nil || !strings.Contains(err.Error(), "time zone") {
		t.Errorf("bad zone accepted: %v", err)
	}
}
