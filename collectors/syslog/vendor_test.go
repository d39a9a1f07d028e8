package syslog

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// vendorReceived is when the vendor lines are taken to be received.
var vendorReceived = time.Date(2026, 11, 25, 15, 0, 0, 0, time.UTC)

// loadLines reads testdata/vendor_lines.txt: each line after a
// "# name: X" comment is line X.
func loadLines(t *testing.T) map[string]string {
	t.Helper()
	return collectortest.NamedLines(t, "testdata/vendor_lines.txt")
}

// sendLines writes the named lines to a TCP listener, one per line.
func sendLines(t *testing.T, s *started, lines map[string]string, names ...string) {
	t.Helper()
	tcp := dial(t, "tcp", s.addr(t, "tcp"))
	for _, n := range names {
		l, ok := lines[n]
		if !ok {
			t.Fatalf("no line %q in testdata/vendor_lines.txt", n)
		}
		if _, err := fmt.Fprintf(tcp, "%s\n", l); err != nil {
			t.Fatal(err)
		}
	}
}

func sortedObs(sub *collector.Submission) []string {
	var out []string
	for _, o := range sub.Observables {
		out = append(out, o.Type+"="+o.Value)
	}
	sort.Strings(out)
	return out
}

type singleDetails struct {
	Rule  string
	Event Event
}

// TestVendorLines sends vendor lines from public documentation to a
// running collector whose rules read their fields: PAN-OS LEEF with '|'
// separators (issue 16 item 1), FortiGate's "CEF: 0|" after the host name
// (item 2), "Dec 27" received on 25 Nov (item 4), PAN-OS's 0.0.0.0 NAT
// fields and Trend Micro's hash keys (item 6).
func TestVendorLines(t *testing.T) {
	lines := loadLines(t)
	s := startWith(t, `listen_tcp = 127.0.0.1:0
rule_forti = vendor = Fortinet && ext.FTNTFGTsubtype ~ ^(webfilter|forward)$
rule_panos = cat = TRAFFIC && src ~ ^(10\.11\.254\.207|172\.19\.50\.39)$ && usrName = ""
rule_trend = ext.TrendMicroDsFileMD5 ~ ^44D8`, func(r *run) { r.now = func() time.Time { return vendorReceived } })
	sendLines(t, s, lines, "fortigate-cef-space", "fortigate-cef-nohost", "panos-leef-may4", "panos-leef-11",
		"trendmicro-cef-antimalware", "sshd-1")
	subs := waitSubs(t, s.sink, 5)
	s.waitCount(t, "dropped_not_selected", 1)
	tests := map[string]struct {
		rule, host string
		time       time.Time
		obs        []string
	}{
		"13056": {"forti", "FGT-A-LOG", time.Date(2025, 12, 27, 11, 23, 49, 0, time.UTC),
			[]string{"fqdn=ambrishsriv.wixsite.com", "ipv4=10.1.100.11", "ipv4=185.230.61.185",
				"ipv4_full_conversation=10.1.100.11:59194:185.230.61.185:80", "url=/bizsquads", "user=bob"}},
		"00013": {"forti", "", time.Date(2025, 12, 27, 11, 7, 55, 0, time.UTC),
			[]string{"ipv4=10.120.152.189", "ipv4=40.113.178.33", "ipv4_full_conversation=10.120.152.189:54320:40.113.178.33:443"}},
		"allow/9.0.2": {"panos", "bilbo", time.Date(2026, 5, 4, 13, 38, 1, 0, time.UTC),
			[]string{"ipv4=10.11.228.158", "ipv4=10.11.254.207", "ipv4_full_conversation=10.11.254.207:53222:10.11.228.158:5900"}},
		"allow/11.1.6-h14": {"panos", "pa-fw01", time.Date(2026, 11, 25, 10, 12, 1, 0, time.UTC),
			[]string{"ipv4=172.19.5.50", "ipv4=172.19.50.39", "ipv4_full_conversation=172.19.50.39:51514:172.19.5.50:443"}},
		"4000000": {"trend", "dsmhost", time.Date(2026, 11, 25, 11, 7, 53, 0, time.UTC),
			[]string{`file_path=C:\Users\trend\Desktop\eicar.exe`, "md5=44d88612fea8a8f36de82e1278abb02f",
				"sha1=3395856ce81f2b7382dee72602f798b642f14140",
				"sha256=275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f"}},
	}
	for _, sub := range subs {
		var det singleDetails
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		ev := det.Event
		if ev.CEF == nil {
			t.Errorf("%s: no CEF/LEEF record parsed: %+v", sub.Description, ev)
			continue
		}
		key := ev.CEF.SignatureID
		if ev.CEF.Format == "LEEF" {
			key += "/" + ev.CEF.DevVersion
		}
		want, ok := tests[key]
		if !ok {
			t.Errorf("unexpected submission %s (%s)", sub.Description, key)
			continue
		}
		delete(tests, key)
		if det.Rule != want.rule || ev.Hostname != want.host || ev.AppName != "" || ev.ParseError != "" {
			t.Errorf("%s: rule %q host %q app %q parse error %q", key, det.Rule, ev.Hostname, ev.AppName, ev.ParseError)
		}
		if !ev.Time.Equal(want.time) || !sub.EventTime.Equal(want.time) {
			t.Errorf("%s: time %v (submission %v), want %v", key, ev.Time, sub.EventTime, want.time)
		}
		if got := sortedObs(sub); strings.Join(got, " ") != strings.Join(want.obs, " ") {
			t.Errorf("%s: observables\n got  %q\n want %q", key, got, want.obs)
		}
	}
	for k := range tests {
		t.Errorf("no submission for %s", k)
	}
}

// TestResolveYear: an RFC 3164 time is never more than a day ahead of
// its receive time (issue 16 item 4).
func TestResolveYear(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skipf("no zoneinfo: %v", err)
	}
	stamp := func(s string, loc *time.Location) time.Time {
		v, err := time.ParseInLocation(time.Stamp, s, loc)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	utc := time.UTC
	tests := []struct {
		stamp    string
		received time.Time
		loc      *time.Location
		want     time.Time
	}{
		{"Dec 27 11:23:49", vendorReceived, utc, time.Date(2025, 12, 27, 11, 23, 49, 0, utc)},
		{"Nov 23 23:30:00", vendorReceived, utc, time.Date(2026, 11, 23, 23, 30, 0, 0, utc)},
		{"Nov 26 14:59:00", vendorReceived, utc, time.Date(2026, 11, 26, 14, 59, 0, 0, utc)}, // a clock a day ahead
		{"Nov 26 15:01:00", vendorReceived, utc, time.Date(2025, 11, 26, 15, 1, 0, 0, utc)},  // more than a day ahead
		{"Jan  1 00:00:01", time.Date(2026, 12, 31, 23, 59, 0, 0, utc), utc, time.Date(2027, 1, 1, 0, 0, 1, 0, utc)},
		{"Dec 31 23:59:59", time.Date(2027, 1, 1, 0, 0, 5, 0, utc), utc, time.Date(2026, 12, 31, 23, 59, 59, 0, utc)},
		{"Feb 29 12:00:00", vendorReceived, utc, time.Date(2024, 2, 29, 12, 0, 0, 0, utc)},
		// The year is the receiver's year in the configured zone.
		{"Jan  1 00:30:00", time.Date(2026, 12, 31, 23, 15, 0, 0, utc), berlin, time.Date(2027, 1, 1, 0, 30, 0, 0, berlin)},
	}
	for _, tt := range tests {
		got := resolveYear(stamp(tt.stamp, tt.loc), tt.received, tt.loc)
		if !got.Equal(tt.want) {
			t.Errorf("%s received %v: got %v, want %v", tt.stamp, tt.received, got, tt.want)
		}
	}
	// Through the parser, with RFC 3164's padded and devices' unpadded days.
	p := newParser(nil)
	for _, line := range []string{"<13>Dec 27 11:23:49 h app: x", "<13>Dec 7 11:23:49 h app: x", "<13>Dec 07 11:23:49 h app: x"} {
		ev, err := p.parse([]byte(line), vendorReceived)
		if err != nil || ev.ParseError != "" || ev.Hostname != "h" {
			t.Fatalf("%q: %v %+v", line, err, ev)
		}
		if ev.Time.Year() != 2025 || ev.Time.Month() != time.December {
			t.Errorf("%q: time %v, want December 2025", line, ev.Time)
		}
	}
}
