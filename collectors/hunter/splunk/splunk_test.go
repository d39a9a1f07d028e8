package splunk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// splunkd answers as Splunk's REST API does for the search endpoints the
// hunter uses, with bodies in the shapes of the REST API Reference
// ("Search endpoint descriptions": search/jobs, search/jobs/{search_id},
// search/jobs/{search_id}/results, search/jobs/{search_id}/control,
// https://docs.splunk.com/Documentation/Splunk/latest/RESTREF/RESTsearch)
// and the tutorial "Creating searches using the REST API"
// (https://help.splunk.com/en/splunk-enterprise/leverage-rest-apis/rest-api-tutorials/9.0/rest-api-tutorials/creating-searches-using-the-rest-api):
// POST .../search/jobs gives {"sid": ...}; GET .../jobs/{sid} an Atom-
// style JSON feed whose entry content holds dispatchState, isDone,
// isFailed and resultCount; GET .../results {"preview", "init_offset",
// "messages", "fields", "results"}; DELETE removes the job.
type splunkd struct {
	t          *testing.T
	user, pass string
	token      string
	results    []map[string]any
	runningFor int    // polls answered RUNNING before DONE
	fail       string // a FAILED job with this message
	never      bool   // the job never finishes

	mu        sync.Mutex
	searches  []string
	paths     []string
	polls     int
	deleted   []string
	cancelled []string
	count     string
}

func (s *splunkd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			http.Error(w, `{"messages":[{"type":"WARN","text":"call not properly authenticated"}]}`, http.StatusUnauthorized)
			return
		}
	} else if u, p, ok := r.BasicAuth(); !ok || u != s.user || p != s.pass {
		http.Error(w, `{"messages":[{"type":"WARN","text":"call not properly authenticated"}]}`, http.StatusUnauthorized)
		return
	}
	r.ParseForm()
	if r.Form.Get("output_mode") != "json" {
		s.t.Errorf("%s %s without output_mode=json", r.Method, r.URL)
	}
	s.paths = append(s.paths, r.Method+" "+r.URL.Path)
	const sid = "1714557600.42"
	jobs := strings.Index(r.URL.Path, "/search/jobs")
	if !strings.HasPrefix(r.URL.Path, "/servicesNS/") || jobs < 0 {
		http.NotFound(w, r)
		return
	}
	rest := r.URL.Path[jobs+len("/search/jobs"):]
	w.Header().Set("Content-Type", "application/json")
	switch {
	case rest == "" && r.Method == http.MethodPost:
		s.searches = append(s.searches, r.PostForm.Get("search"))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":%q}`, sid)
	case rest == "/"+sid && r.Method == http.MethodGet:
		s.polls++
		state, done, failed := "DONE", true, false
		var msgs []map[string]string
		switch {
		case s.fail != "":
			state, done, failed = "FAILED", true, true
			msgs = []map[string]string{{"type": "FATAL", "text": s.fail}}
		case s.never || s.polls <= s.runningFor:
			state, done = "RUNNING", false
		}
		json.NewEncoder(w).Encode(map[string]any{
			"links": map[string]any{}, "origin": "https://localhost:8089/services/search/jobs",
			"updated": "2024-05-01T10:00:00+00:00", "generator": map[string]any{"build": "abc", "version": "9.2.1"},
			"entry": []any{map[string]any{
				"name": "search index=proxy", "id": "https://localhost:8089/services/search/jobs/" + sid,
				"author": "hunter", "acl": map[string]any{"app": "search", "owner": "hunter"},
				"content": map[string]any{
					"sid": sid, "dispatchState": state, "isDone": done, "isFailed": failed, "isFinalized": false,
					"doneProgress": 1, "eventCount": len(s.results), "resultCount": len(s.results), "messages": msgs,
				},
			}},
			"paging": map[string]any{"total": 1, "perPage": 0, "offset": 0}, "messages": []any{},
		})
	case rest == "/"+sid+"/results" && r.Method == http.MethodGet:
		s.count = r.Form.Get("count")
		fields := []map[string]string{}
		for k := range s.results[0] {
			fields = append(fields, map[string]string{"name": k})
		}
		json.NewEncoder(w).Encode(map[string]any{"preview": false, "init_offset": 0, "messages": []any{},
			"fields": fields, "results": s.results, "highlighted": map[string]any{}})
	case rest == "/"+sid+"/control" && r.Method == http.MethodPost:
		s.cancelled = append(s.cancelled, r.PostForm.Get("action"))
		fmt.Fprint(w, `{"messages":[{"type":"INFO","text":"Search job cancelled."}]}`)
	case rest == "/"+sid && r.Method == http.MethodDelete:
		s.deleted = append(s.deleted, sid)
		fmt.Fprint(w, `{"messages":[{"type":"INFO","text":"Search job cancelled."}]}`)
	default:
		http.NotFound(w, r)
	}
}

func newSplunkd(t *testing.T) (*splunkd, *httptest.Server) {
	s := &splunkd{t: t, user: "hunter", pass: "pw", results: []map[string]any{
		{"_time": "2024-05-01T06:00:05.000-04:00", "src_ip": "10.0.0.1", "field1": "a", "dst_ip": []any{"10.9.9.1", "10.9.9.2"}},
		{"_time": "2024-05-01T10:00:07.250+00:00", "src_ip": "10.0.0.2", "field1": "b"},
	}}
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func backend(t *testing.T, srv *httptest.Server, tz string) *Backend {
	t.Helper()
	loc, err := time.LoadLocation(tz)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{URI: srv.URL, Username: "hunter", Password: "pw", Loc: loc, Verify: false, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

func rule(q string) *rules.Rule {
	return &rules.Rule{Path: "r.ini", Name: "r", Query: q, MaxResultCount: 100, QueryTimeout: time.Minute,
		SplunkApp: "-", SplunkUser: "-"}
}

func TestSearchJob(t *testing.T) {
	s, srv := newSplunkd(t)
	s.runningFor = 2
	b := backend(t, srv, "America/New_York")
	r := rule("index=proxy {time_spec} src_ip=10.0.0.*")
	r.SplunkApp, r.SplunkUser = "app", "user"
	if err := b.Prepare(r); err != nil {
		t.Fatal(err)
	}
	res, err := b.Search(context.Background(), r, search.Window{Start: t0.Add(-time.Minute), End: t0})
	if err != nil {
		t.Fatal(err)
	}
	// {time_spec} in the Splunk user's zone (UTC-4 on that day).
	want := "search index=proxy earliest = 05/01/2024:05:59:00 latest = 05/01/2024:06:00:00 src_ip=10.0.0.*"
	if len(s.searches) != 1 || s.searches[0] != want || res.Query != want {
		t.Errorf("searches %q, query %q; want %q", s.searches, res.Query, want)
	}
	if s.polls != 3 || len(s.deleted) != 1 || s.count != "100" {
		t.Errorf("polls %d, deleted %v, count %q", s.polls, s.deleted, s.count)
	}
	if !strings.HasPrefix(s.paths[0], "POST /servicesNS/user/app/search/jobs") {
		t.Errorf("paths %v", s.paths)
	}
	if res.SearchID != "1714557600.42" || res.Total != 2 || len(res.Events) != 2 {
		t.Fatalf("result %+v", res)
	}
	// _time keeps its offset (ACE drops it).
	if !res.Events[0].Time.Equal(t0.Add(5*time.Second)) || !res.Events[1].Time.Equal(t0.Add(7250*time.Millisecond)) {
		t.Errorf("times %v %v", res.Events[0].Time, res.Events[1].Time)
	}
	if got := search.Values(res.Events[0].Fields["dst_ip"]); len(got) != 2 {
		t.Errorf("multi-value field %v", got)
	}
}

func TestIndexTimeAndToken(t *testing.T) {
	s, srv := newSplunkd(t)
	s.token = "tok"
	b, err := New(Config{URI: srv.URL, Token: "tok", Loc: time.UTC, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	b.client.Transport.(*http.Transport).TLSClientConfig.InsecureSkipVerify = true
	r := rule("| tstats count where index=proxy {time_spec} by src_ip")
	r.UseIndexTime = true
	if _, err := b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if want := "| tstats count where index=proxy _index_earliest = 05/01/2024:10:00:00 _index_latest = 05/01/2024:11:00:00 by src_ip"; s.searches[0] != want {
		t.Errorf("search %q, want %q", s.searches[0], want)
	}
}

// Without verification turned off, the test server's certificate is
// refused: TLS verification is on by default.
func TestVerifiesCertificates(t *testing.T) {
	_, srv := newSplunkd(t)
	b, err := New(Config{URI: srv.URL, Username: "hunter", Password: "pw", Loc: time.UTC, Verify: true, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Search(context.Background(), rule("x {time_spec}"), search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %v", err)
	}
}

func TestFailedAndTimedOutJobs(t *testing.T) {
	s, srv := newSplunkd(t)
	s.fail = "Error in 'search' command: Unable to parse the search"
	b := backend(t, srv, "UTC")
	_, err := b.Search(context.Background(), rule("x {time_spec}"), search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "Unable to parse the search") {
		t.Errorf("error %v", err)
	}
	s.fail, s.never = "", true
	r := rule("x {time_spec}")
	r.QueryTimeout = 50 * time.Millisecond
	_, err = b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err == nil || !strings.Contains(err.Error(), "query_timeout") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cancelled) != 1 || s.cancelled[0] != "cancel" {
		t.Errorf("control actions %v: the job past query_timeout must be cancelled", s.cancelled)
	}
}

func TestFormatQuery(t *testing.T) {
	for _, tc := range []struct{ in, out, err string }{
		{"a {time_spec} b", "a T b", ""},
		{"eval x={{a}} {time_spec}", "eval x={a} T", ""},
		{"{time_spec} {other}", "", "unknown placeholder {other}"},
		{"{time_spec} }", "", "single '}'"},
		{"{time_spec} {", "", "unmatched '{'"},
	} {
		got, err := FormatQuery(tc.in, "T")
		if got != tc.out || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%q: %q, %v", tc.in, got, err)
		}
	}
}

func TestPrepareIncludes(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "ips.txt"), []byte("# watched\n(10.0.0.1 OR <include:more.txt>)\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "more.txt"), []byte("10.0.0.2\n"), 0o600)
	b := &Backend{cfg: Config{Resolve: func(p string) string { return filepath.Join(dir, p) }}}
	r := rule("index=proxy {time_spec} src_ip=<include:ips.txt>")
	if err := b.Prepare(r); err != nil {
		t.Fatal(err)
	}
	if r.Query != "index=proxy {time_spec} src_ip=(10.0.0.1 OR 10.0.0.2)" || len(r.Files) != 2 {
		t.Errorf("query %q, files %v", r.Query, r.Files)
	}
	for _, q := range []string{"index=proxy src_ip=1", "{time_spec} <include:missing.txt>", "{time_spec} {x}"} {
		r := rule(q)
		var re *rules.Error
		if err := b.Prepare(r); !errors.As(err, &re) || re.Key != "query" {
			t.Errorf("%q: %v", q, err)
		}
	}
	os.WriteFile(filepath.Join(dir, "loop.txt"), []byte("<include:loop.txt>"), 0o600)
	if err := b.Prepare(rule("{time_spec} <include:loop.txt>")); err == nil || !strings.Contains(err.Error(), "100") {
		t.Errorf("self-include: %v", err)
	}
}
