package mailparse

import (
	"encoding/json"
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
		r := &Result{opt: Options{}.withDefaults()}
		r.Details.Size = len(raw)
		r.parseMessage(raw, 0)
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

// FuzzParseHeaderOnly covers the loose header reader used for salvage.
func FuzzParseHeaderOnly(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := &Result{opt: Options{}.withDefaults()}
		hdr, body := splitHeader(raw)
		if len(hdr)+len(body) > len(raw) {
			t.Fatal("split grew the input")
		}
		r.addHeaders(looseHeader(hdr), 0)
		r.scanText(string(body), true)
	})
}
