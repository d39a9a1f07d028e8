package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// part is one multipart part of a hand-built request.
type part struct {
	name, filename string
	noFilename     bool
	rawCD          string // verbatim Content-Disposition, overrides the rest
	data           string
}

func multipartBody(t testing.TB, parts []part) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		cd := fmt.Sprintf(`form-data; name="%s"`, p.name)
		if !p.noFilename {
			cd += fmt.Sprintf(`; filename="%s"`, quoteEscaper.Replace(p.filename))
		}
		if p.rawCD != "" {
			cd = p.rawCD
		}
		h.Set("Content-Disposition", cd)
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, p.data)
	}
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func analysisPart(doc string) part { return part{name: "analysis", noFilename: true, data: doc} }

func post(t testing.TB, target, contentType string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), "POST", target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func postForm(t testing.TB, loc, doc string) (int, string) {
	return post(t, loc+"/api/analysis/submit", "application/x-www-form-urlencoded",
		[]byte(url.Values{"analysis": {doc}}.Encode()))
}

func TestServerRejects(t *testing.T) {
	etf := "%Y-%m-%dT%H:%M:%S.%f%z"
	tests := []struct {
		name string
		doc  string // urlencoded analysis; "-" = field absent
		code int
		want string
	}{
		{"no analysis", "-", 400, "missing analysis field (see documentation)"},
		{"malformed JSON", `{"description": `, 400, "analysis field is not a valid JSON object"},
		{"JSON list", `[1]`, 400, "analysis field is not a valid JSON object"},
		{"JSON null", `null`, 400, "analysis field is not a valid JSON object"},
		{"trailing data", `{"description":"x"} {}`, 400, "analysis field has data after the JSON object"},
		{"no description", `{"tool":"x"}`, 400, "missing description field in submission"},
		{"empty description", `{"description":"  "}`, 400, "missing description field in submission"},
		{"description not string", `{"description":5}`, 400, "description must be a string"},
		{"wrong company", `{"description":"x","company_name":"acme"}`, 400,
			"wrong company acme (are you sending to the correct system?)"},
		{"bad event time", `{"description":"x","event_time":"yesterday"}`, 400,
			"invalid event time format for yesterday (use " + etf + " format)"},
		{"event time number", `{"description":"x","event_time":12}`, 400, "invalid event time format for 12"},
		{"observable no type", `{"description":"x","observables":[{"value":"1.2.3.4"}]}`, 400,
			"an observable is missing the type field"},
		{"observable no value", `{"description":"x","observables":[{"type":"ipv4"}]}`, 400,
			"an observable is missing the value field"},
		{"observable empty value", `{"description":"x","observables":[{"type":"ipv4","value":""}]}`, 400,
			"an observable is missing the value field"},
		{"observable bad time", `{"description":"x","observables":[{"type":"ipv4","value":"1.2.3.4","time":"2022-13-01 00:00:00"}]}`,
			400, "an observable has an invalid time format 2022-13-01 00:00:00 (use " + etf + " format)"},
		{"observable not object", `{"description":"x","observables":["ipv4"]}`, 400, "observable 0 is not a JSON object"},
		{"observables not list", `{"description":"x","observables":{}}`, 400, "observables must be a list"},
		{"tags not strings", `{"description":"x","tags":[1]}`, 400, "tags must be a list of strings"},
		{"observable tags not list", `{"description":"x","observables":[{"type":"a","value":"b","tags":"t"}]}`, 400,
			"observable tags must be a list of strings"},
		{"company_id text", `{"description":"x","company_id":"acme"}`, 400, "company_id must be an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, loc, _ := startServer(t, ServerOptions{CompanyName: "default"})
			var code int
			var body string
			if tt.doc == "-" {
				code, body = post(t, loc+"/api/analysis/submit", "application/x-www-form-urlencoded", []byte("other=1"))
			} else {
				code, body = postForm(t, loc, tt.doc)
			}
			if code != tt.code || !strings.HasPrefix(strings.TrimSpace(body), tt.want) {
				t.Fatalf("got %d %q, want %d %q", code, body, tt.code, tt.want)
			}
			if srv.Count() != 0 || len(submissionDirs(t, srv.opts.Dir)) != 0 {
				t.Fatalf("rejected submission left state: count %d dirs %v", srv.Count(), submissionDirs(t, srv.opts.Dir))
			}
		})
	}
}

func TestServerRejectsKeepNothingFromMultipart(t *testing.T) {
	srv, loc, _ := startServer(t, ServerOptions{})
	ct, body := multipartBody(t, []part{
		{name: "file", filename: "a.txt", data: "aaaa"},
		{name: "file", filename: "b/c.txt", data: "cccc"},
		analysisPart(`{"description":"x","observables":[{"type":"ipv4"}]}`),
	})
	code, text := post(t, loc+"/api/analysis/submit", ct, body)
	if code != 400 || !strings.Contains(text, "missing the value field") {
		t.Fatalf("%d %q", code, text)
	}
	if d := submissionDirs(t, srv.opts.Dir); len(d) != 0 {
		t.Fatalf("partial submission left behind: %v", d)
	}
}

func TestServerDefaults(t *testing.T) {
	_, loc, rec := startServer(t, ServerOptions{})
	before := time.Now()
	code, body := postForm(t, loc, `{"description":"only a description","event_time":null,"details":null,"tags":null}`)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	got := <-rec.ch
	if body != fmt.Sprintf(`{"result":{"uuid":"%s"}}`, got.UUID) {
		t.Fatalf("answer %s", body)
	}
	if got.AnalysisMode != "analysis" || got.Tool != "api" || got.ToolInstance != "api(127.0.0.1)" ||
		got.Type != "default" || got.Queue != "default" || got.Instructions != "" || got.CompanyID != 0 ||
		string(got.Details) != "{}" || len(got.Tags) != 0 || len(got.Observables) != 0 ||
		got.EventTime.Before(before.Add(-time.Second)) || got.RemoteAddr == "" {
		t.Fatalf("defaults: %+v", got)
	}
}

func TestServerQueryStringAnalysis(t *testing.T) {
	_, loc, rec := startServer(t, ServerOptions{})
	q := url.Values{"analysis": {`{"description":"via query"}`}}.Encode()
	code, body := post(t, loc+"/api/analysis/submit?"+q, "", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	if got := <-rec.ch; got.Description != "via query" {
		t.Fatalf("%+v", got)
	}
}

func TestServerSubmissionUUIDHeader(t *testing.T) {
	_, loc, rec := startServer(t, ServerOptions{})
	req, _ := http.NewRequest("POST", loc+"/api/analysis/submit",
		strings.NewReader(url.Values{"analysis": {`{"description":"h"}`}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(SubmissionUUIDHeader, "abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-rec.ch; got.SubmissionUUID != "abc" {
		t.Fatalf("%+v", got)
	}
}

func TestServerFileNamesStayInside(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "store")
	srv, loc, rec := startServer(t, ServerOptions{Dir: dir})
	ct, body := multipartBody(t, []part{
		analysisPart(`{"description":"names"}`),
		{name: "file", filename: "../../etc/passwd", data: "1"},
		{name: "file", filename: "/abs/x", data: "2"},
		{name: "file", filename: "a/../../b", data: "3"},
		{name: "file", filename: `..\..\win.txt`, data: "4"},
		{name: "file", filename: "C:/boot.ini", data: "5"},
		{name: "file", filename: "dup.txt", data: "6"},
		{name: "file", filename: "dup.txt", data: "7"},
		{name: "file", filename: "./dup.txt", data: "8"},
		{name: "file", filename: "d", data: "9"},
		{name: "file", filename: "d/inner", data: "10"},
		{name: "file", filename: "sub/dir/../evil.txt", data: "11"},
		{name: "file", filename: "quo\"te.txt", data: "12"},
		{name: "file", filename: "analysis.json", data: "13"},
		{name: "ignored", filename: "other.txt", data: "14"},
		{name: "file", noFilename: true, data: "15"},
	})
	code, text := post(t, loc+"/api/analysis/submit", ct, body)
	if code != 200 {
		t.Fatalf("%d %s", code, text)
	}
	got := <-rec.ch
	names := map[string]string{}
	base := filepath.Join(dir, got.UUID, "files") + string(filepath.Separator)
	for _, f := range got.Files {
		if !strings.HasPrefix(f.Path, base) {
			t.Errorf("%q stored outside the submission: %s", f.Name, f.Path)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			t.Fatal(err)
		}
		names[f.Name] = string(data)
	}
	want := map[string]string{
		"etc/passwd": "1", "abs/x": "2", "a/b": "3", "win.txt": "4", "boot.ini": "5",
		"dup.txt": "6", "dup-1.txt": "7", "dup-2.txt": "8", "d": "9", "d_inner": "10",
		"sub/dir/evil.txt": "11", `quo"te.txt`: "12", "analysis.json": "13",
	}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("stored names\n got %v\nwant %v", names, want)
	}
	// Nothing was created next to the storage root.
	ents, _ := os.ReadDir(root)
	if len(ents) != 1 || ents[0].Name() != "store" {
		t.Fatalf("files escaped the storage root: %v", ents)
	}
	if srv.Count() != 1 {
		t.Fatal(srv.Count())
	}
}

func TestServerRejectsUnusableFileNames(t *testing.T) {
	// RFC 2231 encoding gets NUL and control bytes past the MIME header
	// parser to the name check.
	for _, cd := range []string{
		`form-data; name="file"; filename*=UTF-8''a%00b`,
		`form-data; name="file"; filename*=UTF-8''ok%2F%01`,
		`form-data; name="file"; filename="../.."`,
		`form-data; name="file"; filename=""`,
	} {
		srv, loc, _ := startServer(t, ServerOptions{})
		ct, body := multipartBody(t, []part{
			analysisPart(`{"description":"x"}`),
			{name: "file", filename: "good.txt", data: "g"},
			{rawCD: cd, data: "bad"},
		})
		name := cd
		code, text := post(t, loc+"/api/analysis/submit", ct, body)
		if code != 400 || !strings.Contains(text, "invalid file name") {
			t.Errorf("name %q: %d %q", name, code, text)
		}
		if d := submissionDirs(t, srv.opts.Dir); len(d) != 0 {
			t.Errorf("name %q: left %v", name, d)
		}
	}
}

func TestServerBodyTooLarge(t *testing.T) {
	srv, loc, _ := startServer(t, ServerOptions{MaxBodyBytes: 1000})
	ct, body := multipartBody(t, []part{
		analysisPart(`{"description":"x"}`),
		{name: "file", filename: "big", data: strings.Repeat("z", 5000)},
	})
	code, _ := post(t, loc+"/api/analysis/submit", ct, body)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("code %d", code)
	}
	if d := submissionDirs(t, srv.opts.Dir); len(d) != 0 {
		t.Fatalf("left %v", d)
	}
}

func TestServerMethodsAndEndpoints(t *testing.T) {
	_, loc, _ := startServer(t, ServerOptions{})
	tests := []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/api/analysis/submit", 405, ""},
		{"GET", "/api/common/ping", 200, `{"result":"pong"}`},
		{"GET", "/api/common/get_supported_api_version", 200, `{"result":1}`},
		{"GET", "/api/nothing", 404, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, loc+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code || (tt.body != "" && string(b) != tt.body) {
			t.Errorf("%s %s: %d %q", tt.method, tt.path, resp.StatusCode, b)
		}
	}
}

func TestNewServerRemovesPartialSubmissions(t *testing.T) {
	dir := t.TempDir()
	partial := filepath.Join(dir, tmpPrefix+"dead")
	if err := os.MkdirAll(filepath.Join(partial, "files"), 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(dir, "11111111-1111-1111-1111-111111111111")
	os.Mkdir(keep, 0o755)
	s, err := NewServer(ServerOptions{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d := submissionDirs(t, dir)
	sort.Strings(d)
	if len(d) != 1 || d[0] != filepath.Base(keep) {
		t.Fatalf("dirs %v", d)
	}
	if _, err := NewServer(ServerOptions{}); err == nil {
		t.Fatal("NewServer without Dir succeeded")
	}
}

func TestConcurrentSubmissions(t *testing.T) {
	srv, loc, rec := startServer(t, ServerOptions{})
	c := newTestClient(t, ClientOptions{})
	dir := t.TempDir()
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			sub := newSub(fmt.Sprintf("c%d", i))
			sub.AddFile(writeTestFile(t, dir, fmt.Sprintf("f%d", i), []byte(sub.Description)), "same.txt")
			_, err := c.Submit(testCtx(t), loc, sub)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if srv.Count() != n || len(rec.all()) != n {
		t.Fatalf("count %d", srv.Count())
	}
	j, _ := os.ReadFile(filepath.Join(srv.opts.Dir, journalName))
	lines := strings.Split(strings.TrimSpace(string(j)), "\n")
	if len(lines) != n {
		t.Fatalf("%d journal lines", len(lines))
	}
	for _, l := range lines {
		var jl journalLine
		if err := json.Unmarshal([]byte(l), &jl); err != nil {
			t.Fatalf("journal line %q: %v", l, err)
		}
	}
}

func TestServerAcceptHook(t *testing.T) {
	dir := t.TempDir()
	var fail error
	var seen []string
	srv, loc, rec := startServer(t, ServerOptions{Dir: dir, Accept: func(ctx context.Context, r *Received) error {
		// The submission is already complete on disk when Accept runs.
		if _, err := os.Stat(filepath.Join(dir, r.UUID, "analysis.json")); err != nil {
			t.Errorf("Accept before the submission is stored: %v", err)
		}
		seen = append(seen, r.Description)
		return fail
	}})
	c := newTestClient(t, ClientOptions{})
	tests := []struct {
		fail      error
		code      int
		transient bool
	}{
		{errors.New("store unavailable"), 503, true},
		{fmt.Errorf("%w: bad", collector.ErrInvalid), 400, false},
		{nil, 0, false},
	}
	for i, tt := range tests {
		fail = tt.fail
		sub := newSub(fmt.Sprintf("accept %d", i))
		sub.AddFile(writeTestFile(t, t.TempDir(), "f", []byte("x")), "f.txt")
		_, err := c.Submit(testCtx(t), loc, sub)
		if tt.code == 0 {
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		var se *StatusError
		if !errors.As(err, &se) || se.StatusCode != tt.code || Transient(err) != tt.transient {
			t.Fatalf("case %d: err = %v", i, err)
		}
	}
	if len(seen) != 3 || srv.Count() != 1 || len(rec.all()) != 1 {
		t.Fatalf("seen %v count %d", seen, srv.Count())
	}
	if d := submissionDirs(t, dir); len(d) != 1 || d[0] != rec.all()[0].UUID {
		t.Fatalf("refused submissions left on disk: %v", d)
	}
	j, _ := os.ReadFile(filepath.Join(dir, journalName))
	if n := strings.Count(string(j), "\n"); n != 1 {
		t.Fatalf("%d journal lines", n)
	}
}

func TestServerURLEncodedLimit(t *testing.T) {
	_, loc, _ := startServer(t, ServerOptions{MaxBodyBytes: 100})
	code, _ := postForm(t, loc, `{"description":"`+strings.Repeat("a", 200)+`"}`)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("code %d", code)
	}
}
