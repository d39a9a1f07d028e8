package mailparse

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

type obs struct{ typ, val, tag string }

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func hashes(b []byte) (string, string) {
	m := md5.Sum(b)
	s := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s[:])
}

func find(r *Result, typ, val string) *collector.Observable {
	for i, o := range r.Observables.List() {
		if o.Type == typ && o.Value == val {
			return &r.Observables.List()[i]
		}
	}
	return nil
}

func TestFixtures(t *testing.T) {
	pdfMD5, pdfSHA := hashes(fixture(t, "forward_nested.pdf.bin"))
	zipMD5, zipSHA := hashes(fixture(t, "forward_nested.zip.bin"))
	tests := []struct {
		file       string
		subject    string
		date       time.Time
		want       []obs // tag "" = any
		absent     []obs
		parseError string // substring; "" = none expected
	}{
		{
			file:    "multipart_alternative.eml",
			subject: "Action required: verify your account ✅",
			date:    time.Date(2024, 5, 14, 9, 12, 30, 0, time.UTC),
			want: []obs{
				{"email_address", "security@example-bank.com", "from"},
				{"email_address", "notifications@mailer.example-bank.com", "sender"},
				{"email_address", "support@example-bank-help.net", "reply_to"},
				{"email_address", "bounce-123@mailer.example-bank.com", "return_path"},
				{"email_address", "alice@corp.example", "to"},
				{"email_address", "bob@corp.example", "to"},
				{"email_address", "carol@corp.example", "cc"},
				{"message_id", "<20240514091230.12345@mailer.example-bank.com>", ""},
				{"email_subject", "Action required: verify your account ✅", ""},
				{"email_conversation", "security@example-bank.com|alice@corp.example", ""},
				{"email_conversation", "security@example-bank.com|bob@corp.example", ""},
				{"ipv4", "198.51.100.23", "received"},
				{"url", "https://login.example-bank.com/verify?id=42&t=1", ""}, // text and decoded href
				{"url", "http://help.example-bank.com/faq", ""},                // bare, in parentheses
				{"url", "http://cdn.tracker.example.net/pixel.gif", ""},        // img src in QP HTML
				{"url", "https://203.0.113.77/collect", ""},
				{"url", "http://hidden.example.org/in-comment", ""},
				{"fqdn", "login.example-bank.com", ""},
				{"fqdn", "cdn.tracker.example.net", ""},
				{"ipv4", "203.0.113.77", "url"},
			},
			absent: []obs{{"ipv4", "10.20.30.40", ""}, {"ipv4", "127.0.0.1", ""}},
		},
		{
			file:    "forward_nested.eml",
			subject: "Fwd: Invoice 2024-0042",
			want: []obs{
				{"file_name", "Invoice 2024-0042.eml", "attachment"},
				{"file_name", "invoice-42.pdf", "forwarded"},
				{"md5", pdfMD5, "forwarded"},
				{"sha256", pdfSHA, "forwarded"},
				{"file_name", "documents – copy.zip", "attachment"}, // RFC 2231 filename*
				{"md5", zipMD5, ""},
				{"sha256", zipSHA, ""},
				{"email_address", "mallory@evil.example", "forwarded_from"},
				{"message_id", "<inner-1@evil.example>", "forwarded_message_id"},
				{"ipv4", "192.0.2.99", "forwarded_received"},
				{"url", "http://pay.evil.example/invoice?n=42", ""},
			},
		},
		{
			file: "iso8859_1.eml", subject: "Grüße aus Köln",
			want: []obs{{"url", "https://rechnung.example.de/zahlung?betrag=100EUR", ""}, {"email_address", "juergen@example.de", "from"}},
		},
		{
			file: "windows_1252.eml", subject: "“Special” offer – 50€ off",
			want:   []obs{{"url", "https://offer.example.com/deal", ""}},
			absent: []obs{{"url", "https://offer.example.com/deal”", ""}},
		},
		{
			file: "shift_jis.eml", subject: "請求書のご案内",
			want: []obs{{"url", "https://seikyu.example.jp/invoice?id=7", ""}, {"email_address", "yamada@example.jp", "from"}},
		},
		{
			file: "broken_boundary.eml", subject: "broken boundary",
			want: []obs{{"url", "http://first.example.org/a", ""}, {"file_name", "payload.exe", ""}},
		},
		{
			file: "oversized_header.eml", subject: "oversized header",
			want: []obs{{"email_address", "user199@corp.example", "to"}, {"url", "https://after-huge.example.net/x", ""}},
		},
		{
			file: "header_only.eml", subject: "no body at all",
			want: []obs{{"message_id", "<hdr-only@example.com>", ""}, {"email_address", "only@example.com", "from"}},
		},
		{file: "garbage.bin", parseError: "not an RFC 5322 message"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := fixture(t, tt.file)
			r := Parse(raw, Options{})
			if r.Subject != tt.subject {
				t.Errorf("subject %q, want %q", r.Subject, tt.subject)
			}
			if !tt.date.IsZero() && !r.Date.Equal(tt.date) {
				t.Errorf("date %v, want %v", r.Date, tt.date)
			}
			for _, w := range tt.want {
				o := find(r, w.typ, w.val)
				if o == nil {
					t.Errorf("missing %s %q", w.typ, w.val)
				} else if w.tag != "" && !slices.Contains(o.Tags, w.tag) {
					t.Errorf("%s %q tags %v lack %q", w.typ, w.val, o.Tags, w.tag)
				}
			}
			for _, a := range tt.absent {
				if find(r, a.typ, a.val) != nil {
					t.Errorf("unexpected %s %q", a.typ, a.val)
				}
			}
			if tt.parseError == "" && r.Details.ParseError != "" {
				t.Errorf("parse error: %s", r.Details.ParseError)
			}
			if !strings.Contains(r.Details.ParseError, tt.parseError) {
				t.Errorf("parse error %q, want %q", r.Details.ParseError, tt.parseError)
			}
			if r.Details.Size != len(raw) {
				t.Errorf("size %d", r.Details.Size)
			}
			if _, err := json.Marshal(r.Details); err != nil {
				t.Errorf("details not JSON-encodable: %v", err)
			}
			seen := map[[2]string]bool{}
			for _, o := range r.Observables.List() {
				k := [2]string{o.Type, o.Value}
				if seen[k] {
					t.Errorf("duplicate %v", k)
				}
				seen[k] = true
			}
		})
	}
}

func TestBrokenBoundaryWarns(t *testing.T) {
	r := Parse(fixture(t, "broken_boundary.eml"), Options{})
	if !slices.ContainsFunc(r.Details.Warnings, func(w string) bool { return strings.Contains(w, "not closed") }) {
		t.Errorf("warnings %q do not report the unclosed boundary", r.Details.Warnings)
	}
}

func TestPrivateIPsOption(t *testing.T) {
	raw := fixture(t, "multipart_alternative.eml")
	r := Parse(raw, Options{IncludePrivateIPs: true})
	for _, ip := range []string{"10.20.30.40", "127.0.0.1", "198.51.100.23"} {
		if find(r, "ipv4", ip) == nil {
			t.Errorf("with include_private_ips: missing %s", ip)
		}
	}
}

func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\r\nSubject: many\r\n\r\n")
	for i := range 50 {
		b.WriteString("http://host" + string(rune('a'+i%26)) + ".example/" + strings.Repeat("p", i) + "\r\n")
	}
	r := Parse([]byte(b.String()), Options{MaxURLs: 10})
	n := 0
	for _, o := range r.Observables.List() {
		if o.Type == "url" {
			n++
		}
	}
	if n != 10 || r.Details.URLsOmitted != 40 {
		t.Errorf("urls kept %d, omitted %d; want 10 and 40", n, r.Details.URLsOmitted)
	}
	// Nested forwards beyond MaxDepth are reported, not opened.
	msg := []byte("From: in@x.example\r\nSubject: innermost\r\n\r\nhttp://deep.example/\r\n")
	for range 4 {
		msg = append([]byte("From: f@x.example\r\nContent-Type: message/rfc822\r\n\r\n"), msg...)
	}
	r = Parse(msg, Options{MaxDepth: 2})
	if find(r, "url", "http://deep.example/") != nil {
		t.Error("opened a forward deeper than MaxDepth")
	}
	if !slices.ContainsFunc(r.Details.Warnings, func(w string) bool { return strings.Contains(w, "deeper than 2") }) {
		t.Errorf("depth limit not reported: %q", r.Details.Warnings)
	}
}

func TestParseHeaderOnly(t *testing.T) {
	raw := fixture(t, "multipart_alternative.eml")
	r := ParseHeaderOnly(raw[:1200], 99<<20, "too big", Options{})
	if r.Details.ParseError != "too big" || r.Details.Size != 99<<20 {
		t.Errorf("details %+v", r.Details)
	}
	if find(r, "email_address", "security@example-bank.com") == nil || r.Subject == "" {
		t.Error("header observables missing")
	}
}

func TestURLTrimming(t *testing.T) {
	for in, want := range map[string]string{
		"see http://a.example/x.":          "http://a.example/x",
		"(http://a.example/x)":             "http://a.example/x",
		"http://a.example/wiki/Foo_(bar)":  "http://a.example/wiki/Foo_(bar)",
		"<http://a.example/y>,":            "http://a.example/y",
		"\"https://a.example/q?x=1&y=2\"!": "https://a.example/q?x=1&y=2",
	} {
		r := Parse([]byte("From: a@b.example\r\n\r\n"+in+"\r\n"), Options{})
		if find(r, "url", want) == nil {
			t.Errorf("%q: want url %q, got %+v", in, want, r.Observables.List())
		}
	}
}

// Adversarial inputs must stay fast (linear), not just not crash.
func TestPathologicalInputsAreFast(t *testing.T) {
	inputs := map[string]string{
		"closing parens": "From: a@b.example\r\n\r\nhttp://a.example/" + strings.Repeat(")", 200000) + "\r\n",
		"many urls":      "From: a@b.example\r\n\r\n" + strings.Repeat("http://a.example/x ", 20000),
		"many parts": "Content-Type: multipart/mixed; boundary=b\r\n\r\n" +
			strings.Repeat("--b\r\nContent-Type: application/x\r\nContent-Disposition: attachment; filename=a\r\n\r\nx\r\n", 50000) + "--b--\r\n",
		"long header":     "Subject: " + strings.Repeat("=?utf-8?q?a?= ", 50000) + "\r\nReceived: " + strings.Repeat("[1.2.3.4] ", 50000) + "\r\n\r\n",
		"many recipients": "To: " + strings.Repeat("u@x.example, ", 100000) + strings.Repeat("\r\nCc: a@b.example", 20000) + "\r\n\r\n",
		"html attrs":      "Content-Type: text/html\r\n\r\n" + strings.Repeat("<a href=\"http://x.example/", 50000),
	}
	for name, in := range inputs {
		start := time.Now()
		r := Parse([]byte(in), Options{})
		// Generous: linear work here takes well under 100 ms on an idle
		// machine; the quadratic cases this guards against take minutes.
		t.Logf("%s: %v", name, time.Since(start))
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: %v for %d bytes", name, d, len(in))
		}
		if name == "many parts" && !strings.Contains(r.Details.ParseError, "MIME parts") {
			t.Errorf("part limit not reported: %q", r.Details.ParseError)
		}
	}
}

// A URL whose host is an address gives that address, typed by
// collector.IPObservable (an IPv4-mapped IPv6 host is ipv4).
func TestURLAddressHosts(t *testing.T) {
	raw := "From: a@b.example\r\nSubject: hosts\r\n\r\n" +
		"http://192.0.2.10/a http://[2001:db8::7]/b https://[::ffff:198.51.100.4]:8443/c\r\n"
	r := Parse([]byte(raw), Options{})
	for _, w := range [][2]string{{"ipv4", "192.0.2.10"}, {"ipv6", "2001:db8::7"}, {"ipv4", "198.51.100.4"}} {
		if find(r, w[0], w[1]) == nil {
			t.Errorf("missing %s %s in %v", w[0], w[1], r.Observables.List())
		}
	}
}

// Whatever the input, details hold bounded, printable text: a binary or
// hostile header cannot put escaped binary or kilobytes into a submission
// or a log line.
func TestDetailsBounded(t *testing.T) {
	junk := strings.Repeat("\x00\x01\x1b[31m\xff\xfe", 2000)
	raw := "From: a@b.example\r\nSubject: " + junk + "\r\nDate: " + junk + "\r\nMessage-ID: <" + junk + ">\r\n" +
		"Content-Type: multipart/mixed; boundary=\"" + junk + "\"\r\n\r\nbody\r\n"
	r := Parse([]byte(raw), Options{})
	d, err := json.Marshal(r.Details)
	if err != nil {
		t.Fatal(err)
	}
	if len(d) > 8<<10 || strings.Contains(string(d), `\u0000`) || strings.Contains(string(d), `\u001b`) {
		t.Errorf("details of %d bytes: %.300s", len(d), d)
	}
	for _, o := range r.Observables.List() {
		if len(o.Value) > 4<<10 || strings.ContainsAny(o.Value, "\x00\x1b") {
			t.Errorf("observable %s of %d bytes: %.100q", o.Type, len(o.Value), o.Value)
		}
	}
}
