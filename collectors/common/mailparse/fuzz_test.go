package mailparse

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func addFixtureSeeds(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.eml"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) > 2<<10 {
			b = b[:2<<10]
		}
		f.Add(b)
	}
	f.Add([]byte("Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--"))
	f.Add([]byte("Subject: =?utf-8?q?=E2?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!=="))
}

// FuzzParse runs the extraction without Parse's panic guard, so a panic in
// our code or enmime is reported.
func FuzzParse(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := newResult(Options{}, int64(len(raw)))
		r.parseTop(bytes.NewReader(raw))
		if _, err := json.Marshal(r.Details); err != nil {
			t.Fatalf("details: %v", err)
		}
		for _, o := range r.Observables.List() {
			if o.Type == "" || o.Value == "" {
				t.Fatalf("empty observable %+v", o)
			}
			if !utf8.ValidString(o.Value) {
				t.Fatalf("invalid UTF-8 in %s %q", o.Type, o.Value)
			}
		}
	})
}

// FuzzParseHeaderOnly covers the header reader (with a tiny buffer, so
// long-line fragments are exercised) and the HTML scanner.
func FuzzParseHeaderOnly(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := newResult(Options{}, int64(len(raw)))
		h, body := r.readHeader(bufio.NewReaderSize(bytes.NewReader(raw), 16), true)
		r.addHeaders(h, 0)
		rest, err := io.ReadAll(body)
		if err != nil || len(rest) > len(raw) {
			t.Fatalf("body of %d bytes from %d, %v", len(rest), len(raw), err)
		}
		r.scanText(bytes.NewReader(rest), true, "")

		// Consistency: behind a well-formed header block, the body comes
		// back byte for byte, whatever it holds.
		framed := append([]byte("X-Fuzz: 1\r\nSubject: s\r\n\r\n"), raw...)
		r2 := newResult(Options{}, int64(len(framed)))
		h2, body2 := r2.readHeader(bufio.NewReaderSize(bytes.NewReader(framed), 16), true)
		if got, err := io.ReadAll(body2); err != nil || !bytes.Equal(got, raw) {
			t.Fatalf("body behind a header: %q (%v), want %q", got, err, raw)
		}
		if h2.Get("X-Fuzz") != "1" || h2.Get("Subject") != "s" {
			t.Fatalf("header fields lost: %v", h2)
		}
	})
}

// FuzzSniff: the non-email detection never panics and its reason never
// quotes the input.
func FuzzSniff(f *testing.F) {
	addFixtureSeeds(f)
	f.Add([]byte("\x89PNG\r\n\x1a\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ok, reason := Sniff(raw)
		if ok != (reason == "") || len(reason) > 100 {
			t.Fatalf("ok %v, reason %q", ok, reason)
		}
	})
}
