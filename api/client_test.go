package api

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

func fullSubmission(t *testing.T, dir string) (*collector.Submission, map[string][]byte) {
	t.Helper()
	sub := collector.NewSubmission("Phish: Überweisung fällig — 請求書 🚨")
	sub.AnalysisMode = "correlation"
	sub.Tool = "ace-collector-email"
	sub.ToolInstance = "collector01.example"
	sub.Type = "mailbox"
	sub.Queue = "external"
	sub.Instructions = "Prüfen Sie den Anhang"
	sub.CompanyID = 7
	sub.EventTime = time.Date(2022, 1, 2, 3, 4, 5, 678901000, time.FixedZone("EST", -5*3600))
	sub.Tags = []string{"phish", "größe"}
	if err := sub.SetDetails(map[string]any{"subject": "Grüße", "n": 3, "nested": map[string]any{"k": []int{1, 2}}}); err != nil {
		t.Fatal(err)
	}
	sub.Observables = []collector.Observable{
		{Type: collector.ObsEmailAddress, Value: "jürgen@例え.jp", Tags: []string{"sender"},
			Directives: []string{"no_scan"}, LimitedAnalysis: []string{"analysis_module_x"},
			Time: time.Date(2022, 1, 2, 8, 0, 0, 123456000, time.UTC)},
		{Type: collector.ObsIPv4, Value: "192.0.2.1"},
		{Type: collector.ObsURL, Value: "https://example.com/a/b?c=d&e=<f>"},
	}
	contents := map[string][]byte{
		"email.rfc822":         []byte("From: a@b\r\nSubject: x\r\n\r\nbody\r\n"),
		"anhänge/rechnung.pdf": bytes.Repeat([]byte{0, 1, 2, 0xff}, 70000),
		"empty.bin":            {},
	}
	i := 0
	for _, name := range []string{"email.rfc822", "anhänge/rechnung.pdf", "empty.bin"} {
		i++
		p := writeTestFile(t, dir, "src"+string(rune('0'+i)), contents[name])
		sub.AddFile(p, name)
	}
	return sub, contents
}

func TestRoundTripEveryField(t *testing.T) {
	srv, loc, rec := startServer(t, ServerOptions{})
	c := newTestClient(t, ClientOptions{})
	sub, contents := fullSubmission(t, t.TempDir())

	res, err := c.Submit(testCtx(t), loc, sub)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Count() != 1 {
		t.Fatalf("Count = %d", srv.Count())
	}
	got := <-rec.ch
	if res.UUID != got.UUID || res.UUID == "" || res.TuningMatches != nil {
		t.Fatalf("result %+v, stored uuid %s", res, got.UUID)
	}
	if got.SubmissionUUID != sub.UUID {
		t.Errorf("SubmissionUUID = %q, want %q", got.SubmissionUUID, sub.UUID)
	}
	checks := []struct{ name, got, want string }{
		{"description", got.Description, sub.Description},
		{"analysis_mode", got.AnalysisMode, sub.AnalysisMode},
		{"tool", got.Tool, sub.Tool},
		{"tool_instance", got.ToolInstance, sub.ToolInstance},
		{"type", got.Type, sub.Type},
		{"queue", got.Queue, sub.Queue},
		{"instructions", got.Instructions, sub.Instructions},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if got.CompanyID != 7 {
		t.Errorf("company_id = %d", got.CompanyID)
	}
	if !got.EventTime.Equal(sub.EventTime) {
		t.Errorf("event_time = %v, want %v", got.EventTime, sub.EventTime)
	}
	var gd, wd any
	json.Unmarshal(got.Details, &gd)
	json.Unmarshal(sub.Details, &wd)
	if !reflect.DeepEqual(gd, wd) {
		t.Errorf("details = %s, want %s", got.Details, sub.Details)
	}
	if !reflect.DeepEqual(got.Tags, sub.Tags) {
		t.Errorf("tags = %q", got.Tags)
	}
	if len(got.Observables) != len(sub.Observables) {
		t.Fatalf("observables = %+v", got.Observables)
	}
	for i, o := range sub.Observables {
		g := got.Observables[i]
		if g.Type != o.Type || g.Value != o.Value || !g.Time.Equal(o.Time) ||
			!reflect.DeepEqual(g.Tags, o.Tags) || !reflect.DeepEqual(g.Directives, o.Directives) ||
			!reflect.DeepEqual(g.LimitedAnalysis, o.LimitedAnalysis) {
			t.Errorf("observable %d = %+v, want %+v", i, g, o)
		}
	}
	if len(got.Files) != len(contents) {
		t.Fatalf("files = %+v", got.Files)
	}
	dir := filepath.Join(srv.opts.Dir, got.UUID)
	for _, f := range got.Files {
		want, ok := contents[f.Name]
		if !ok {
			t.Errorf("unexpected stored file %q", f.Name)
			continue
		}
		if f.Path != filepath.Join(dir, "files", filepath.FromSlash(f.Name)) {
			t.Errorf("path %s", f.Path)
		}
		data, err := os.ReadFile(f.Path)
		if err != nil || !bytes.Equal(data, want) {
			t.Errorf("file %s: content differs (err %v, %d bytes)", f.Name, err, len(data))
		}
		sum := sha256.Sum256(want)
		if f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != int64(len(want)) {
			t.Errorf("file %s: sha %s size %d", f.Name, f.SHA256, f.Size)
		}
	}
	// analysis.json is the Received.
	var stored Received
	b, err := os.ReadFile(filepath.Join(dir, "analysis.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &stored); err != nil || stored.Description != sub.Description || len(stored.Files) != 3 {
		t.Fatalf("analysis.json: %v %+v", err, stored)
	}
	// One journal line naming the submission.
	j, err := os.ReadFile(filepath.Join(srv.opts.Dir, journalName))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(j)), "\n")
	var jl journalLine
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &jl) != nil || jl.UUID != got.UUID ||
		jl.SubmissionUUID != sub.UUID || len(jl.Files) != 3 || jl.Files[0].SHA256 == "" {
		t.Fatalf("journal: %q", j)
	}
	if d := submissionDirs(t, srv.opts.Dir); len(d) != 1 || d[0] != got.UUID {
		t.Fatalf("dirs in storage root: %v", d)
	}
}

// wireCapture records the raw request of a submission and answers like ACE.
type wireCapture struct {
	method, path, contentType string
	contentLength             int64
	transferEncoding          []string
	header                    http.Header
	body                      []byte
}

func captureHandler(got *wireCapture) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got.method, got.path = r.Method, r.URL.Path
		got.contentType = r.Header.Get("Content-Type")
		got.contentLength = r.ContentLength
		got.transferEncoding = r.TransferEncoding
		got.header = r.Header.Clone()
		got.body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"result": {"tuning_matches": [{"rule": "r1"}], "uuid": "11111111-2222-3333-4444-555555555555"}}`)
	}
}

func TestWireFormatMultipart(t *testing.T) {
	var got wireCapture
	loc := startHandler(t, captureHandler(&got))
	c := newTestClient(t, ClientOptions{})
	sub, _ := fullSubmission(t, t.TempDir())
	res, err := c.Submit(testCtx(t), loc, sub)
	if err != nil {
		t.Fatal(err)
	}
	if res.UUID != "11111111-2222-3333-4444-555555555555" || !strings.Contains(string(res.TuningMatches), "r1") {
		t.Fatalf("result %+v", res)
	}
	if got.method != "POST" || got.path != "/api/analysis/submit" {
		t.Fatalf("%s %s", got.method, got.path)
	}
	if got.contentLength != int64(len(got.body)) || len(got.transferEncoding) != 0 {
		t.Fatalf("Content-Length %d for %d bytes, transfer-encoding %v", got.contentLength, len(got.body), got.transferEncoding)
	}
	if got.header.Get(SubmissionUUIDHeader) != sub.UUID {
		t.Fatalf("uuid header %q", got.header.Get(SubmissionUUIDHeader))
	}
	mt, params, err := mime.ParseMediaType(got.contentType)
	if err != nil || mt != "multipart/form-data" {
		t.Fatalf("content type %q", got.contentType)
	}
	mr := multipart.NewReader(bytes.NewReader(got.body), params["boundary"])
	var names []string
	var analysis []byte
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		_, cd, _ := mime.ParseMediaType(p.Header.Get("Content-Disposition"))
		if p.Header.Get("Content-Type") != "" {
			t.Errorf("part %q has a Content-Type (python-requests sends none)", cd["name"])
		}
		if cd["name"] == "analysis" {
			analysis, _ = io.ReadAll(p)
			names = append(names, "analysis")
		} else {
			names = append(names, cd["name"]+":"+cd["filename"])
		}
	}
	want := []string{"analysis", "file:email.rfc822", "file:anhänge/rechnung.pdf", "file:empty.bin"}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("parts %q, want %q", names, want)
	}
	for _, b := range analysis {
		if b >= 0x80 {
			t.Fatalf("analysis JSON is not ASCII-only like Python's json.dumps: %s", analysis)
		}
	}
	// Keys in ace_api.py's order, then submission_uuid.
	keys := jsonKeys(t, analysis)
	wantKeys := []string{"analysis_mode", "tool", "tool_instance", "type", "company_id", "description",
		"event_time", "details", "observables", "tags", "queue", "instructions", "submission_uuid"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("keys %q", keys)
	}
	var doc map[string]any
	json.Unmarshal(analysis, &doc)
	if doc["event_time"] != "2022-01-02T08:04:05.678901+0000" {
		t.Errorf("event_time %v", doc["event_time"])
	}
	if doc["description"] != sub.Description {
		t.Errorf("description %q", doc["description"])
	}
	obs := doc["observables"].([]any)[0].(map[string]any)
	if obs["time"] != "2022-01-02T08:00:00.123456+0000" {
		t.Errorf("observable time %v", obs["time"])
	}
}

func jsonKeys(t *testing.T, doc []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.Token()
	var keys []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

func TestWireFormatNoFilesIsURLEncoded(t *testing.T) {
	var got wireCapture
	loc := startHandler(t, captureHandler(&got))
	c := newTestClient(t, ClientOptions{})
	c.now = func() time.Time { return time.Date(2023, 5, 6, 7, 8, 9, 0, time.FixedZone("", 3600)) }
	sub := &collector.Submission{UUID: "4b0f4b47-3a3f-4c5e-9a0e-0a7b7e0e0c11", Description: "minimal"}
	if _, err := c.Submit(testCtx(t), loc, sub); err != nil {
		t.Fatal(err)
	}
	if got.contentType != "application/x-www-form-urlencoded" {
		t.Fatalf("content type %q", got.contentType)
	}
	form, err := url.ParseQuery(string(got.body))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(form.Get("analysis")), &doc); err != nil {
		t.Fatalf("analysis %q: %v", form.Get("analysis"), err)
	}
	want := map[string]any{
		"analysis_mode": "analysis", "tool": "ace-collector", "tool_instance": c.toolInstance, "type": "generic",
		"company_id": nil, "description": "minimal", "event_time": "2023-05-06T06:08:09.000000+0000",
		"details": map[string]any{}, "observables": []any{}, "tags": []any{}, "queue": "default",
		"instructions": nil, "submission_uuid": sub.UUID,
	}
	if !reflect.DeepEqual(doc, want) {
		t.Fatalf("analysis\n got %v\nwant %v", doc, want)
	}
}

func TestRoundTripURLEncoded(t *testing.T) {
	_, loc, rec := startServer(t, ServerOptions{})
	c := newTestClient(t, ClientOptions{})
	sub := collector.NewSubmission("no files: ünïcödé")
	sub.AddObservable(collector.ObsFQDN, "example.org", "t1")
	if _, err := c.Submit(testCtx(t), loc, sub); err != nil {
		t.Fatal(err)
	}
	got := <-rec.ch
	if got.Description != sub.Description || len(got.Files) != 0 || len(got.Observables) != 1 ||
		got.Observables[0].Tags[0] != "t1" {
		t.Fatalf("%+v", got)
	}
}

func TestRetriesReplayTheBody(t *testing.T) {
	var calls atomic.Int32
	var last wireCapture
	capture := captureHandler(&last)
	loc := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		capture(w, r)
	})
	dir := t.TempDir()
	sub := collector.NewSubmission("retry")
	data := bytes.Repeat([]byte("0123456789"), 5000)
	sub.AddFile(writeTestFile(t, dir, "f", data), "f.txt")
	c := newTestClient(t, ClientOptions{RetryMax: 2, RetryWaitMin: time.Millisecond, RetryWaitMax: 2 * time.Millisecond})
	if _, err := c.Submit(testCtx(t), loc, sub); err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d requests, want 3", calls.Load())
	}
	if !bytes.Contains(last.body, data) || last.contentLength != int64(len(last.body)) {
		t.Fatalf("third attempt body does not carry the whole file")
	}
}

func TestRetryMaxZeroMakesOneRequest(t *testing.T) {
	var calls atomic.Int32
	loc := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "maintenance")
	})
	c := newTestClient(t, ClientOptions{RetryMax: 0, RetryWaitMin: time.Millisecond})
	_, err := c.Submit(testCtx(t), loc, collector.NewSubmission("x"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 503 || se.Body != "maintenance" || !Transient(err) ||
		se.RetryAfter != 7*time.Second {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("%d requests, want exactly 1", calls.Load())
	}
}

func TestStatusErrorKeepsBody(t *testing.T) {
	loc := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "missing description field in submission"+strings.Repeat("x", 2000), 400)
	})
	c := newTestClient(t, ClientOptions{})
	_, err := c.Submit(testCtx(t), loc, collector.NewSubmission("x"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.HasPrefix(se.Body, "missing description") {
		t.Fatalf("err = %v", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "400") || !strings.Contains(msg, "truncated") || len(msg) > 1000 {
		t.Fatalf("Error() = %q", msg)
	}
	if Transient(err) {
		t.Fatal("400 must not be transient")
	}
}

func TestUnexpectedSuccessBody(t *testing.T) {
	loc := startHandler(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>proxy login</html>")
	})
	c := newTestClient(t, ClientOptions{})
	_, err := c.Submit(testCtx(t), loc, collector.NewSubmission("x"))
	var pe *ProtocolError
	if !errors.As(err, &pe) || Transient(err) {
		t.Fatalf("err = %v", err)
	}
}

func TestPing(t *testing.T) {
	_, loc, _ := startServer(t, ServerOptions{})
	c := newTestClient(t, ClientOptions{})
	if err := c.Ping(testCtx(t), loc); err != nil {
		t.Fatal(err)
	}
	bad := startHandler(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, `{"result":"nope"}`) })
	if err := c.Ping(testCtx(t), bad); err == nil {
		t.Fatal("ping accepted a wrong answer")
	}
}

func TestAPIKey(t *testing.T) {
	_, loc, _ := startServer(t, ServerOptions{APIKeys: []string{"s3cret", "other"}})
	tests := []struct {
		name   string
		opts   ClientOptions
		status int
	}{
		{"no key", ClientOptions{}, 401},
		{"wrong key", ClientOptions{APIKey: "nope"}, 403},
		{"x-ace-auth", ClientOptions{APIKey: "s3cret"}, 0},
		{"x-ice-auth", ClientOptions{APIKey: "other", APIKeyHeader: "x-ice-auth"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestClient(t, tt.opts)
			_, err := c.Submit(testCtx(t), loc, collector.NewSubmission("key test"))
			perr := c.Ping(testCtx(t), loc)
			if tt.status == 0 {
				if err != nil || perr != nil {
					t.Fatalf("submit %v, ping %v", err, perr)
				}
				return
			}
			var se *StatusError
			if !errors.As(err, &se) || se.StatusCode != tt.status || Transient(err) {
				t.Fatalf("err = %v", err)
			}
			if !errors.As(perr, &se) || se.StatusCode != tt.status {
				t.Fatalf("ping err = %v", perr)
			}
		})
	}
}

func TestNewClientErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	notPEM := writeTestFile(t, dir, "notpem.crt", []byte("hello"))
	tests := []struct {
		name string
		o    ClientOptions
		want string
	}{
		{"missing CA", ClientOptions{CAFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		{"CA not PEM", ClientOptions{CAFile: notPEM}, "notpem.crt"},
		{"cert without key", ClientOptions{CertFile: notPEM}, "notpem.crt"},
		{"bad key pair", ClientOptions{CertFile: notPEM, KeyFile: notPEM}, "notpem.crt"},
	}
	for _, tt := range tests {
		_, err := NewClient(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want it to name %s", tt.name, err, tt.want)
		}
	}
}
