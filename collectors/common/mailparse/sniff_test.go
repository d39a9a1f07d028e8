package mailparse

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestSniff(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, f := range files {
		if ok, reason := Sniff(fixture(t, filepath.Base(f))); !ok {
			t.Errorf("%s: not a message (%s)", f, reason)
		}
	}
	for _, tt := range []struct {
		in     string
		ok     bool
		reason string
	}{
		{string(fixture(t, "garbage.bin")), false, "binary data"},
		{string(fixture(t, "not_email.png")), false, "binary data"},
		{string(fixture(t, "not_email.csv")), false, "does not start with a header field"},
		{"", false, "empty"},
		{"\r\n\r\nFrom: a@b.example\r\n", false, "no mail header field"},
		{"key: value\nother: x\n\nbody\n", false, "no mail header field"},
		{"Subject: hi\x00\r\n\r\n", false, "binary data"},
		{"From MAILER-DAEMON Fri Apr 06 16:46:09 2001\nReceived: from x\n\tby y\nSubject: s\n\nbody\n", true, ""},
		{"X-Custom: 1\r\nSubject: header only, cut by the prefix", true, ""},
		{"Subject: hi\nbody line without a colon\n", true, ""},
		{" folded: first\nSubject: x\n\n", false, "does not start with a header field"},
	} {
		ok, reason := Sniff([]byte(tt.in))
		if ok != tt.ok || !strings.Contains(reason, tt.reason) {
			t.Errorf("%.40q: got %v %q, want %v %q", tt.in, ok, reason, tt.ok, tt.reason)
		}
	}
}
