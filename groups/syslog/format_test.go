package syslog

import (
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
)

func TestCEFEscaping(t *testing.T) {
	for _, tt := range []struct{ in, header, value string }{
		{`plain`, `plain`, `plain`},
		{`a|b`, `a\|b`, `a|b`},
		{`back\slash`, `back\\slash`, `back\\slash`},
		{`k=v`, `k=v`, `k\=v`},
		{"two\nlines\r\n", "two lines ", `two\nlines\r\n`},
		{`\|=`, `\\\|=`, `\\|\=`},
	} {
		if got := CEFHeader(tt.in); got != tt.header {
			t.Errorf("CEFHeader(%q) = %q, want %q", tt.in, got, tt.header)
		}
		if got := CEFValue(tt.in); got != tt.value {
			t.Errorf("CEFValue(%q) = %q, want %q", tt.in, got, tt.value)
		}
	}
	if got := LEEFValue("a\tb\nc\rd=e"); got != "a b c d=e" {
		t.Errorf("LEEFValue = %q", got)
	}
}

// hostile is a submission whose text holds every character CEF and LEEF
// escape, with observables for every mapped field.
func hostile() *collector.Submission {
	sub := collector.NewSubmission("Alert | with \\ back=slash\nand newline")
	sub.Type, sub.Tool, sub.ToolInstance, sub.AnalysisMode = "ids|alert", "sensor=1", "host\\a", "analysis"
	sub.EventTime = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	sub.Tags = []string{"a", "b=c"}
	sub.Observables = []collector.Observable{
		{Type: collector.ObsIPv4FullConversation, Value: "10.0.0.1:51515:203.0.113.9:443"},
		{Type: collector.ObsIPv4, Value: "198.51.100.1"},
		{Type: collector.ObsEmailAddress, Value: "bob@corp.example", Tags: []string{"smtp_rcpt_to"}},
		{Type: collector.ObsEmailAddress, Value: "eve@evil.example", Tags: []string{"smtp_mail_from"}},
		{Type: collector.ObsURL, Value: "https://evil.example/a?b=c&d=e"},
		{Type: collector.ObsMD5, Value: "d41d8cd98f00b204e9800998ecf8427e"},
		{Type: collector.ObsSHA256, Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{Type: collector.ObsFQDN, Value: "evil.example"},
		{Type: collector.ObsFileName, Value: "inv\\oice=1.pdf"},
		{Type: collector.ObsIPv6, Value: "2001:db8::1", Tags: []string{"dst"}},
		{Type: collector.ObsMAC, Value: "00:11:22:33:44:55", Tags: []string{"src"}},
	}
	return sub
}

// What the formatter writes, the project's CEF parser reads back field by
// field: every escape undone, every observable where it was mapped.
func TestCEFRoundTrip(t *testing.T) {
	sub := hostile()
	e := Event{Vendor: "ace|collector", Product: "p", Version: "1\\2", Severity: 7}
	line := e.cef(sub, nil, time.Now())
	if strings.ContainsAny(line, "\r\n") {
		t.Fatalf("a CEF record spans lines: %q", line)
	}
	ev, err := cef.ParseCEF(line)
	if err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if ev.Vendor != "ace|collector" || ev.DevVersion != "1\\2" || ev.SignatureID != "ids|alert" ||
		ev.Name != "Alert | with \\ back=slash and newline" || ev.Severity != "7" {
		t.Errorf("header: %+v", ev)
	}
	want := map[string]string{
		"rt": "1772600767891", "externalId": sub.UUID, "cat": "analysis", "dvchost": "host\\a",
		"cs1Label": "tool", "cs1": "sensor=1", "cs2": "a,b=c", "msg": "Alert | with \\ back=slash\nand newline",
		"src": "10.0.0.1", "spt": "51515", "dst": "203.0.113.9", "dpt": "443",
		"duser": "bob@corp.example", "suser": "eve@evil.example", "request": "https://evil.example/a?b=c&d=e",
		"fileHash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"dhost":    "evil.example", "fname": "inv\\oice=1.pdf", "c6a3": "2001:db8::1", "c6a3Label": "destinationIPv6",
		"smac": "00:11:22:33:44:55",
	}
	for k, v := range want {
		if ev.Ext[k] != v {
			t.Errorf("%s = %q, want %q", k, ev.Ext[k], v)
		}
	}
	// The per-observable record names the observable.
	obs := e.cef(sub, &sub.Observables[4], time.Now())
	if ev, err = cef.ParseCEF(obs); err != nil {
		t.Fatal(err)
	}
	if ev.SignatureID != "observable" || ev.Ext["cs3"] != "url" || ev.Ext["cs4"] != "https://evil.example/a?b=c&d=e" ||
		ev.Ext["request"] != "https://evil.example/a?b=c&d=e" || ev.Ext["externalId"] != sub.UUID || ev.Ext["src"] != "" {
		t.Errorf("per-observable record: %+v", ev)
	}
}

func TestLEEFRoundTrip(t *testing.T) {
	sub := hostile()
	line := Event{Vendor: "v|x", Product: "p", Version: "1", Severity: 3}.leef(sub, nil, time.Now())
	if strings.ContainsAny(line, "\r\n") || !strings.HasPrefix(line, "LEEF:2.0|v\\|x|p|1|ids\\|alert|x09|") {
		t.Fatalf("LEEF record: %q", line)
	}
	ev, err := cef.ParseLEEF(line)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"devTime": "2026-03-04T05:06:07.891+0000", "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "sev": "3",
		"externalId": sub.UUID, "tool": "sensor=1", "name": "Alert | with \\ back=slash and newline",
		"src": "10.0.0.1", "srcPort": "51515", "dst": "203.0.113.9", "dstPort": "443", "usrName": "eve@evil.example",
		"dstUser": "bob@corp.example", "url": "https://evil.example/a?b=c&d=e", "fileName": "inv\\oice=1.pdf",
		"srcMAC": "00:11:22:33:44:55",
	}
	for k, v := range want {
		if ev.Ext[k] != v {
			t.Errorf("%s = %q, want %q", k, ev.Ext[k], v)
		}
	}
	if ev.Vendor != "v|x" || ev.SignatureID != "ids|alert" {
		t.Errorf("header %+v", ev)
	}
}

func TestObservableSides(t *testing.T) {
	for _, tt := range []struct {
		obs  []collector.Observable
		want map[string]string
	}{
		{[]collector.Observable{{Type: "ipv4", Value: "1.1.1.1"}, {Type: "ipv4", Value: "2.2.2.2"}},
			map[string]string{"src": "1.1.1.1", "dst": "2.2.2.2"}},
		{[]collector.Observable{{Type: "ipv4", Value: "1.1.1.1", Tags: []string{"dst"}}, {Type: "ipv4", Value: "2.2.2.2"}},
			map[string]string{"dst": "1.1.1.1", "src": "2.2.2.2"}},
		{[]collector.Observable{{Type: "ipv4", Value: "9.9.9.9", Tags: []string{"sender_ip"}}},
			map[string]string{"src": "9.9.9.9"}},
		{[]collector.Observable{{Type: "ipv4_conversation", Value: "1.1.1.1_2.2.2.2"}},
			map[string]string{"src": "1.1.1.1", "dst": "2.2.2.2"}},
		{[]collector.Observable{{Type: "email_conversation", Value: "a@x|b@y"}},
			map[string]string{"suser": "a@x", "duser": "b@y"}},
		{[]collector.Observable{{Type: "fqdn", Value: "h"}, {Type: "hostname", Value: "s", Tags: []string{"client"}}},
			map[string]string{"dhost": "h", "shost": "s"}},
		{[]collector.Observable{{Type: "md5", Value: "m"}, {Type: "sha1", Value: "s1"}},
			map[string]string{"fileHash": "s1"}},
		{[]collector.Observable{{Type: "user", Value: "u"}, {Type: "file_path", Value: "/p"}, {Type: "photo", Value: "x", Tags: []string{"tool"}}},
			map[string]string{"suser": "u", "filePath": "/p"}},
	} {
		m := mapObservables(tt.obs)
		if len(m.v) != len(tt.want) {
			t.Errorf("%v: %v, want %v", tt.obs, m.v, tt.want)
			continue
		}
		for k, v := range tt.want {
			if m.v[k] != v {
				t.Errorf("%v: %v, want %v", tt.obs, m.v, tt.want)
				break
			}
		}
	}
}

func TestHeaderAndFraming(t *testing.T) {
	ts := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	h := Header{Protocol: "rfc5424", Facility: 16, Severity: 5, Hostname: "col-1", AppName: "ace-collector"}
	msg := h.message("CEF:0|x", ts, "submission")
	if want := "<133>1 2026-03-04T05:06:07.123456Z col-1 ace-collector - submission - CEF:0|x"; msg != want {
		t.Errorf("rfc5424:\n%s\nwant\n%s", msg, want)
	}
	if got := frame("octet", msg); got != "77 "+msg {
		t.Errorf("octet framing: %q", got)
	}
	h.Protocol = "rfc3164"
	if got, want := h.message("m", ts, "x"), "<133>Mar  4 05:06:07 col-1 ace-collector: m"; got != want {
		t.Errorf("rfc3164: %q, want %q", got, want)
	}
	if got := frame("newline", "a\nb\r\nc"); got != "a b c\n" {
		t.Errorf("newline framing: %q", got)
	}
	if got := frame("", "a\nb"); got != "a\nb" {
		t.Errorf("udp: %q", got)
	}
	if got := headerToken("h o\u00e9st", 255); got != "host" {
		t.Errorf("headerToken = %q", got)
	}
	if got := headerToken("", 48); got != "-" {
		t.Errorf("headerToken(\"\") = %q", got)
	}
}
