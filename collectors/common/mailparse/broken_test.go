package mailparse

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// body is what follows the header of a raw message.
func body(t *testing.T, raw []byte) []byte {
	t.Helper()
	for _, sep := range []string{"\r\n\r\n", "\n\n"} {
		if i := bytes.Index(raw, []byte(sep)); i >= 0 {
			return raw[i+len(sep):]
		}
	}
	t.Fatal("no header end")
	return nil
}

// A multipart whose boundary is missing (CPython corpus msg_41), truncated
// by a fold (msg_25) or never used in the body (an evasion trick) is not
// skipped: its raw content is hashed (md5/sha256 observables tagged
// unparsed_part, an unparsed_parts entry) and scanned for URLs; where the
// body shows a delimiter line, its parts are read with that boundary.
func TestBrokenMultipartNotSkipped(t *testing.T) {
	tests := []struct {
		file   string
		reason string
		want   []obs
		// attachment content whose hash must be found (recovered parts)
		payload string
	}{
		{
			file:   "boundary_missing.eml",
			reason: "boundary parameter missing",
			want:   []obs{{"url", "http://missing-boundary.example/offer?id=7", ""}, {"fqdn", "missing-boundary.example", ""}},
		},
		{
			file:   "boundary_truncated.eml",
			reason: `parts read with boundary "JAB03225.986577786/relay.example"`,
			want: []obs{
				{"url", "http://first-part.example/status", ""},
				{"url", "http://recovered.example/login?user=victim", ""}, // quoted-printable HTML: only with the parts read
				{"file_name", "payload.bin", "attachment"},
				{"email_address", "mailer-daemon@relay.example", "from"},
			},
			payload: "boundary_truncated.payload.bin",
		},
		{
			file:   "boundary_absent.eml",
			reason: `boundary "declared-boundary" does not occur`,
			want:   []obs{{"url", "http://absent-boundary.example/phish", ""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := fixture(t, tt.file)
			r := Parse(raw, Options{})
			if r.Details.ParseError != "" {
				t.Errorf("parse error %q", r.Details.ParseError)
			}
			if len(r.Details.Unparsed) != 1 {
				t.Fatalf("unparsed parts %+v, want one", r.Details.Unparsed)
			}
			u := r.Details.Unparsed[0]
			m, s := hashes(body(t, raw))
			if u.MD5 != m || u.SHA256 != s || u.Size != len(body(t, raw)) || !strings.HasPrefix(u.ContentType, "multipart/") {
				t.Errorf("unparsed part %+v: want the raw body's hashes %s %s", u, m, s)
			}
			if !strings.Contains(u.Reason, tt.reason) {
				t.Errorf("reason %q lacks %q", u.Reason, tt.reason)
			}
			for _, w := range append(tt.want, obs{"md5", m, "unparsed_part"}, obs{"sha256", s, "unparsed_part"}) {
				o := find(r, w.typ, w.val)
				if o == nil {
					t.Errorf("missing %s %q", w.typ, w.val)
				} else if w.tag != "" && !slices.Contains(o.Tags, w.tag) {
					t.Errorf("%s %q tags %v lack %q", w.typ, w.val, o.Tags, w.tag)
				}
			}
			if tt.payload != "" {
				pm, ps := hashes(fixture(t, tt.payload))
				if find(r, "md5", pm) == nil || find(r, "sha256", ps) == nil {
					t.Errorf("recovered attachment hashes %s %s missing", pm, ps)
				}
			}
			if !slices.ContainsFunc(r.Details.Warnings, func(w string) bool { return strings.Contains(w, "raw content hashed") }) {
				t.Errorf("warnings %q do not say the part was read raw", r.Details.Warnings)
			}
		})
	}
}

// A broken multipart nested in a good one is reported with its position.
func TestBrokenMultipartNested(t *testing.T) {
	inner := "Blah http://nested-broken.example/x blah\r\n"
	raw := "From: a@b.example\r\nSubject: nested\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n" +
		"--outer\r\nContent-Type: text/plain\r\n\r\nfirst http://first.example/\r\n" +
		"--outer\r\nContent-Type: multipart/alternative\r\n\r\n" + inner +
		"--outer--\r\n"
	r := Parse([]byte(raw), Options{})
	if len(r.Details.Unparsed) != 1 || r.Details.Unparsed[0].Part != "2" {
		t.Fatalf("unparsed %+v", r.Details.Unparsed)
	}
	// The line break before the delimiter belongs to the delimiter.
	m, _ := hashes([]byte(strings.TrimSuffix(inner, "\r\n")))
	if r.Details.Unparsed[0].MD5 != m {
		t.Errorf("md5 %s, want %s", r.Details.Unparsed[0].MD5, m)
	}
	for _, u := range []string{"http://first.example/", "http://nested-broken.example/x"} {
		if find(r, "url", u) == nil {
			t.Errorf("missing url %s", u)
		}
	}
}

// Text hidden after a wrong boundary inside a base64 part (undecodable
// for base64) is still scanned for URLs.
func TestURLsInUndecodableBase64(t *testing.T) {
	r := Parse(fixture(t, "broken_boundary.eml"), Options{})
	if find(r, "url", "http://second.example.org/b") == nil {
		t.Errorf("URL after the wrong boundary not found: %v", r.Observables.List())
	}
}

// Every text part is scanned for URLs, not only text/plain and text/html:
// a calendar invitation's link counts as much as a body's (it is still
// listed as an attachment).
func TestURLsInOtherTextParts(t *testing.T) {
	raw := "From: a@b.example\r\nSubject: invite\r\nContent-Type: multipart/mixed; boundary=m\r\n\r\n" +
		"--m\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nURL:https://meet.evil.example/join\r\nEND:VCALENDAR\r\n" +
		"--m--\r\n"
	r := Parse([]byte(raw), Options{})
	if find(r, "url", "https://meet.evil.example/join") == nil || len(r.Details.Attachments) != 1 {
		t.Errorf("observables %v, attachments %+v", r.Observables.List(), r.Details.Attachments)
	}
}
