package api

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func FuzzParseEventTime(f *testing.F) {
	for _, s := range []string{
		"2022-01-02 03:04:05 +0000", "2022-01-02 03:04:05", "2022-01-02T08:04:05.678901+0000",
		"2022-01-02T08:04:05.678+01:00", "2022-01-02T08:04:05.678901", "2022-01-02T08:04:05Z",
		"2022-02-29 00:00:00", "9999-12-31T23:59:59.999999999-23:59", "", "2022-01-02T08:04:05.",
	} {
		f.Add(s)
	}
	loc := time.FixedZone("X", 3600)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseEventTime(s, loc)
		if err != nil {
			return
		}
		// The zero time means "no time" downstream: never produced.
		if got.IsZero() {
			t.Fatalf("%q parsed to the zero time", s)
		}
		// Anything accepted is a real instant that survives ACE's canonical
		// format (to the microsecond).
		back, err := ParseEventTime(FormatEventTime(got), nil)
		if err != nil {
			t.Fatalf("%q parsed to %v, whose canonical form %q does not parse: %v", s, got, FormatEventTime(got), err)
		}
		if !back.Equal(got.Truncate(time.Microsecond)) {
			t.Fatalf("%q: %v != %v", s, back, got)
		}
	})
}

func FuzzDecodeAnalysis(f *testing.F) {
	for _, s := range []string{
		`{"description":"x"}`,
		`{"description":"x","company_name":"acme","company_id":"3","event_time":"2022-01-02 03:04:05 +0000"}`,
		`{"description":"d","observables":[{"type":"ipv4","value":"1.2.3.4","time":"2022-01-02T08:04:05.678901+0000","tags":["a"],"directives":["no_scan"],"limited_analysis":["m"]}],"tags":["t"],"details":{"a":[1,{"b":null}]}}`,
		`{"description":"d","observables":[{"type":"x","value":12.5}],"details":"str"}`,
		`{"description":null}`, `[]`, `null`, `{"description":"\u00fc"}`, `{"description":"x"}{}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		rec, herr := decodeAnalysis(doc, "default", "127.0.0.1:1")
		if herr != nil {
			if herr.code != 400 || herr.msg == "" {
				t.Fatalf("rejection %d %q", herr.code, herr.msg)
			}
			return
		}
		if strings.TrimSpace(rec.Description) == "" {
			t.Fatal("accepted an empty description")
		}
		if !json.Valid(rec.Details) || len(bytes.TrimSpace(rec.Details)) == 0 {
			t.Fatalf("details %q", rec.Details)
		}
		var sent struct {
			Observables []struct {
				Time json.RawMessage `json:"time"`
			} `json:"observables"`
		}
		_ = json.Unmarshal([]byte(doc), &sent) // accepted, so it decodes
		for i, o := range rec.Observables {
			if o.Type == "" || o.Value == "" {
				t.Fatalf("accepted observable %+v", o)
			}
			// A time that was sent is kept: a zero time would be dropped.
			if tm := sent.Observables[i].Time; len(tm) > 0 && string(tm) != "null" && o.Time.IsZero() {
				t.Fatalf("observable %d sent time %s, kept none", i, tm)
			}
		}
		if rec.EventTime.IsZero() {
			t.Fatal("zero event time")
		}
		// What was accepted can be stored.
		if _, err := json.Marshal(rec); err != nil {
			t.Fatalf("cannot encode %+v: %v", rec, err)
		}
	})
}

// FuzzSubmitHandler feeds arbitrary multipart bodies to the submit handler
// (in-process, no network) and checks that it answers sanely and never
// writes outside its storage dir.
func FuzzSubmitHandler(f *testing.F) {
	const boundary = "XyZ"
	mk := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
		}
		b.WriteString("--" + boundary + "--\r\n")
		return b.String()
	}
	f.Add(mk("Content-Disposition: form-data; name=\"analysis\"\r\n\r\n{\"description\":\"x\"}",
		"Content-Disposition: form-data; name=\"file\"; filename=\"../../etc/passwd\"\r\n\r\nroot"))
	f.Add(mk("Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''a%2F..%2F..%2Fb\r\n\r\nz",
		"Content-Disposition: form-data; name=\"analysis\"\r\n\r\n{\"description\":\"y\",\"tags\":[\"t\"]}"))
	f.Add(mk("Content-Disposition: form-data; name=\"file\"; filename=\"d\"\r\n\r\n1",
		"Content-Disposition: form-data; name=\"file\"; filename=\"d/e\"\r\n\r\n2",
		"Content-Disposition: form-data; name=\"analysis\"\r\n\r\n{\"description\":\"y\"}"))
	f.Add("garbage")
	root := f.TempDir()
	f.Fuzz(func(t *testing.T, body string) {
		dir, err := os.MkdirTemp(root, "case")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		store := filepath.Join(dir, "store")
		s, err := NewServer(ServerOptions{Dir: store, MaxBodyBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		req := httptest.NewRequest("POST", "/api/analysis/submit", strings.NewReader(body))
		req.Header.Set("Content-Type", "multipart/form-data; boundary="+boundary)
		w := httptest.NewRecorder()
		s.Handler().ServeHTTP(w, req)
		switch w.Code {
		case 200:
			if s.Count() != 1 {
				t.Fatalf("200 but count %d", s.Count())
			}
		case 400, 413:
			if n := len(submissionDirs(t, store)); n != 0 {
				t.Fatalf("rejected (%d %q) but %d dirs left", w.Code, w.Body.String(), n)
			}
		default:
			t.Fatalf("status %d %q", w.Code, w.Body.String())
		}
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Fatalf("something was written next to the storage dir: %v", ents)
		}
	})
}
