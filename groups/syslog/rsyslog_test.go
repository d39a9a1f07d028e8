package syslog_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
	"github.com/ace-collector/ace-collector/groups/syslog/rsyslogtest"
)

// alert is a submission with text CEF must escape and observables for the
// mapped fields.
func alert() *collector.Submission {
	sub := collector.NewSubmission("IDS alert | bad=thing \\ here\nsecond line")
	sub.Type, sub.Tool, sub.ToolInstance = "ids", "sensor", "sensor-1"
	sub.EventTime = time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	sub.Tags = []string{"ids"}
	sub.Observables = []collector.Observable{
		{Type: collector.ObsIPv4FullConversation, Value: "10.0.0.1:51515:203.0.113.9:443"},
		{Type: collector.ObsEmailAddress, Value: "eve@evil.example", Tags: []string{"smtp_mail_from"}},
		{Type: collector.ObsURL, Value: "https://evil.example/x?a=b"},
		{Type: collector.ObsSHA256, Value: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	return sub
}

func byInput(lines []rsyslogtest.Line, input string) []rsyslogtest.Line {
	var out []rsyslogtest.Line
	for _, l := range lines {
		if l.Input == input {
			out = append(out, l)
		}
	}
	return out
}

// checkHeader compares the syslog fields rsyslog parsed.
func checkHeader(t *testing.T, l rsyslogtest.Line, protocol, msgID string) {
	t.Helper()
	if l.Pri != "133" || l.Facility != "local0" || l.Severity != "notice" || l.Hostname != "test" ||
		l.App != "ace-collector" || l.Protocol != protocol {
		t.Errorf("syslog header fields: %+v", l)
	}
	if protocol == "1" && (l.MsgID != msgID || l.ProcID != "-" || l.SD != "-") {
		t.Errorf("RFC 5424 fields: %+v", l)
	}
	ts, err := time.Parse(time.RFC3339Nano, l.Timestamp)
	want := time.Date(2026, 3, 4, 5, 6, 7, 891_000_000, time.UTC)
	if protocol == "0" {
		want = want.Truncate(time.Second) // RFC 3164 has no fraction (nor year: rsyslog guesses it)
		ts = time.Date(2026, ts.Month(), ts.Day(), ts.Hour(), ts.Minute(), ts.Second(), 0, time.UTC)
	}
	if err != nil || !ts.Equal(want) {
		t.Errorf("timestamp %q (%v), want %s", l.Timestamp, err, want)
	}
}

func checkCEF(t *testing.T, msg string, sub *collector.Submission, want map[string]string) {
	t.Helper()
	ev, err := cef.ParseCEF(msg)
	if err != nil {
		t.Fatalf("not CEF: %v: %q", err, msg)
	}
	if ev.Vendor != "ace-collector" || ev.Product != "ace-collector" || ev.Severity != "5" {
		t.Errorf("CEF header: %+v", ev)
	}
	want["externalId"] = sub.UUID
	for k, v := range want {
		if ev.Ext[k] != v {
			t.Errorf("%s = %q, want %q (record %q)", k, ev.Ext[k], v, msg)
		}
	}
}

// CEF over TCP and over TLS (verified against the generated CA) to a real
// rsyslog: every field of what it received, one line per observable too
// where asked.
func TestCEFToRsyslogOverTCPAndTLS(t *testing.T) {
	rs := rsyslogtest.Require(t)
	p := grouptest.Start(t,
		grouptest.Group("plain", "syslog", "target = tcp://"+rs.TCPAddr)+
			grouptest.Group("secure", "syslog", "target = tls://"+rs.TLSAddr, "ca_chain_path = "+rs.CAFile, "per_observable = yes"),
		daemon.Options{})
	sub := alert()
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	lines, err := rs.WaitLines(ctx, 1+1+len(sub.Observables))
	if err != nil {
		t.Fatal(err)
	}
	p.WaitUntil(ctx, "cleanup", p.Cleaned)
	mapped := map[string]string{"src": "10.0.0.1", "spt": "51515", "dst": "203.0.113.9", "dpt": "443",
		"suser": "eve@evil.example", "request": "https://evil.example/x?a=b",
		"fileHash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
		"rt":       "1772600767891", "cat": "analysis", "dvchost": "sensor-1", "cs1": "sensor", "cs2": "ids",
		"msg": "IDS alert | bad=thing \\ here\nsecond line"}
	plain := byInput(lines, "tcp")
	if len(plain) != 1 {
		t.Fatalf("%d lines over TCP, want 1: %+v", len(plain), lines)
	}
	checkHeader(t, plain[0], "1", "submission")
	checkCEF(t, plain[0].Msg, sub, mapped)
	if ev, _ := cef.ParseCEF(plain[0].Msg); ev == nil || ev.Name != "IDS alert | bad=thing \\ here second line" || ev.SignatureID != "ids" {
		t.Errorf("CEF name/signature: %+v", ev)
	}
	secure := byInput(lines, "tls")
	if len(secure) != 1+len(sub.Observables) {
		t.Fatalf("%d lines over TLS, want %d", len(secure), 1+len(sub.Observables))
	}
	checkHeader(t, secure[0], "1", "submission")
	checkCEF(t, secure[0].Msg, sub, mapped)
	seen := map[string]bool{}
	for _, l := range secure[1:] {
		checkHeader(t, l, "1", "observable")
		ev, err := cef.ParseCEF(l.Msg)
		if err != nil {
			t.Fatal(err)
		}
		seen[ev.Ext["cs3"]+"="+ev.Ext["cs4"]] = true
		if ev.SignatureID != "observable" || ev.Ext["externalId"] != sub.UUID {
			t.Errorf("observable record %+v", ev)
		}
	}
	for _, o := range sub.Observables {
		if !seen[o.Type+"="+o.Value] {
			t.Errorf("no line for observable %s %s", o.Type, o.Value)
		}
	}
	for _, g := range []string{"plain", "secure"} {
		if got := p.Stats().Get("group:"+g, "delivered"); got != 1 {
			t.Errorf("group %s delivered %d", g, got)
		}
	}
}

// LEEF in BSD syslog with newline framing, JSON, and a template: each as
// rsyslog received it.
func TestLEEFJSONAndTemplateToRsyslog(t *testing.T) {
	rs := rsyslogtest.Require(t)
	p := grouptest.Start(t,
		grouptest.Group("leef", "syslog", "target = tcp://"+rs.TCPAddr, "protocol = rfc3164", "format = leef")+
			grouptest.Group("json", "syslog", "target = tcp://"+rs.TCPAddr, "format = json", "framing = newline")+
			grouptest.Group("tmpl", "syslog", "target = tls://"+rs.TLSAddr, "ca_chain_path = "+rs.CAFile, "format = template",
				`template = uuid={{.UUID}} src={{.First "ipv4_full_conversation"}} desc={{cefValue .Description}}`),
		daemon.Options{})
	sub := alert()
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	lines, err := rs.WaitLines(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	var leef, js, tmpl *rsyslogtest.Line
	for i, l := range lines {
		switch {
		case strings.Contains(l.Msg, "LEEF:"):
			leef = &lines[i]
		case strings.HasPrefix(l.Msg, "{"):
			js = &lines[i]
		case strings.HasPrefix(l.Msg, "uuid="):
			tmpl = &lines[i]
		}
	}
	if leef == nil || js == nil || tmpl == nil {
		t.Fatalf("lines: %+v", lines)
	}
	checkHeader(t, *leef, "0", "")
	ev, err := cef.ParseLEEF(strings.TrimPrefix(leef.Msg, " "))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"src": "10.0.0.1", "srcPort": "51515", "dst": "203.0.113.9", "dstPort": "443",
		"usrName": "eve@evil.example", "url": "https://evil.example/x?a=b", "externalId": sub.UUID,
		"name": "IDS alert | bad=thing \\ here second line", "sev": "5", "devTime": "2026-03-04T05:06:07.891+0000"} {
		if ev.Ext[k] != v {
			t.Errorf("LEEF %s = %q, want %q", k, ev.Ext[k], v)
		}
	}
	checkHeader(t, *js, "1", "submission")
	var doc struct {
		UUID, Description string
		Observables       []collector.Observable
	}
	if err := json.Unmarshal([]byte(js.Msg), &doc); err != nil {
		t.Fatalf("JSON line %q: %v", js.Msg, err)
	}
	if doc.UUID != sub.UUID || doc.Description != sub.Description || len(doc.Observables) != 4 {
		t.Errorf("JSON line: %+v", doc)
	}
	checkHeader(t, *tmpl, "1", "submission")
	if want := fmt.Sprintf(`uuid=%s src=10.0.0.1:51515:203.0.113.9:443 desc=IDS alert | bad\=thing \\ here\nsecond line`, sub.UUID); tmpl.Msg != want {
		t.Errorf("template line:\n%s\nwant\n%s", tmpl.Msg, want)
	}
}

// A receiver that restarts closes the group's idle connection; the next
// submission is written to a new connection, not lost in the old one.
func TestReconnectAfterRsyslogRestart(t *testing.T) {
	rs := rsyslogtest.Require(t)
	p := grouptest.Start(t, grouptest.Group("siem", "syslog", "target = tls://"+rs.TLSAddr, "ca_chain_path = "+rs.CAFile), daemon.Options{})
	first := alert()
	p.Submit(first)
	ctx := grouptest.Ctx(t)
	if _, err := rs.WaitLines(ctx, 1); err != nil {
		t.Fatal(err)
	}
	tcpPort, tlsPort := rs.Ports()
	if err := rs.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ca, err := os.ReadFile(rs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	rs2, err := rsyslogtest.Start(dir, tcpPort, tlsPort)
	if err != nil {
		t.Fatalf("restarting rsyslog on the same ports: %v", err)
	}
	t.Cleanup(func() { rs2.Close() })
	// The new server has its own CA: the group trusts both.
	if err := appendFile(rs.CAFile, mustRead(t, rs2.CAFile)); err != nil || len(ca) == 0 {
		t.Fatal(err)
	}
	second := alert()
	p.Submit(second)
	lines, err := rs2.WaitLines(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if ev, err := cef.ParseCEF(lines[0].Msg); err != nil || ev.Ext["externalId"] != second.UUID {
		t.Fatalf("after the restart: %+v %v", lines[0], err)
	}
	p.WaitUntil(ctx, "cleanup", p.Cleaned)
}

// A receiver whose certificate the group does not trust: the item waits
// (retried, kind=certificate, never parked) and goes out once
// ca_chain_path holds the right CA (read for each new connection).
func TestUntrustedReceiverCertificateWaits(t *testing.T) {
	rs := rsyslogtest.Require(t)
	other, err := api.NewLocalCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, other.CertPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	p := grouptest.Start(t, grouptest.Group("siem", "syslog", "target = tls://"+rs.TLSAddr, "ca_chain_path = "+caFile), daemon.Options{})
	sub := alert()
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "retries", func() bool { return p.Stats().Get("group:siem", "retried") >= 2 })
	if p.Count("siem", "ERROR") != 0 {
		t.Fatal("a certificate problem parked the item")
	}
	if len(p.LogLines("level=WARN", "delivery failed; will retry", "kind=certificate", "uuid="+sub.UUID)) == 0 {
		t.Error("no WARN with kind=certificate")
	}
	if err := os.WriteFile(caFile, mustRead(t, rs.CAFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rs.WaitLines(ctx, 1); err != nil {
		t.Fatal(err)
	}
	p.WaitUntil(ctx, "cleanup", p.Cleaned)
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func appendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
