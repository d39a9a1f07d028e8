package http_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// webhook records requests and answers with the codes queued in answers
// (then 200).
type webhook struct {
	mu      sync.Mutex
	reqs    []*recorded
	answers []int
}

type recorded struct {
	header http.Header
	body   []byte
	method string
	query  string
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	w.mu.Lock()
	w.reqs = append(w.reqs, &recorded{header: r.Header.Clone(), body: b, method: r.Method, query: r.URL.RawQuery})
	code := 200
	if len(w.answers) > 0 {
		code, w.answers = w.answers[0], w.answers[1:]
	}
	w.mu.Unlock()
	rw.WriteHeader(code)
	fmt.Fprintf(rw, "webhook says %d", code)
}

func (w *webhook) requests() []*recorded {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*recorded(nil), w.reqs...)
}

func newWebhook(t *testing.T, tlsServer bool, answers ...int) (*webhook, *httptest.Server) {
	w := &webhook{answers: answers}
	var s *httptest.Server
	if tlsServer {
		s = httptest.NewTLSServer(w)
	} else {
		s = httptest.NewServer(w)
	}
	t.Cleanup(s.Close)
	return w, s
}

// The JSON document with the configured headers and authentication, over
// HTTPS verified against the configured CA; the uuid in the headers.
func TestPostsJSONWithHeadersAndAuth(t *testing.T) {
	w, srv := newWebhook(t, true)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	p := grouptest.Start(t, grouptest.Group("soar", "http", "url = "+srv.URL+"/alerts?token=s3cret", "ca_chain_path = "+ca,
		"header.X-Api-Key = k1", "bearer_token = tok"), daemon.Options{})
	sub := collector.NewSubmission("webhook alert")
	sub.AddObservable(collector.ObsFQDN, "evil.example")
	grouptest.Attach(t, sub, "a.txt", []byte("x"))
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "delivered and cleaned", p.Cleaned)
	reqs := w.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	for k, want := range map[string]string{"Content-Type": "application/json", "X-Api-Key": "k1",
		"Authorization": "Bearer tok", "X-Ace-Submission-Uuid": sub.UUID, "Idempotency-Key": sub.UUID} {
		if got := r.header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if r.method != "POST" || r.query != "token=s3cret" {
		t.Errorf("%s ?%s", r.method, r.query)
	}
	var doc struct {
		UUID        string                 `json:"uuid"`
		Description string                 `json:"description"`
		Observables []collector.Observable `json:"observables"`
		Files       []struct{ Name string }
	}
	if err := json.Unmarshal(r.body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.UUID != sub.UUID || doc.Description != "webhook alert" || len(doc.Observables) != 1 || doc.Files[0].Name != "a.txt" {
		t.Errorf("body: %s", r.body)
	}
}

// 408, 429 and 5xx are retried until a 2xx; another 4xx is parked with
// the answer's text, and no URL query (a token) reaches the logs.
func TestStatusClassification(t *testing.T) {
	w, srv := newWebhook(t, false, 503, 429, 408, 200)
	rej, rsrv := newWebhook(t, false, 400)
	p := grouptest.Start(t, grouptest.Group("retry", "http", "url = "+srv.URL+"/?token=s3cret")+
		grouptest.Group("reject", "http", "url = "+rsrv.URL, "format = template", `template = {"id": "{{.UUID}}"}`),
		daemon.Options{})
	sub := collector.NewSubmission("classified")
	p.Submit(sub)
	ctx := grouptest.Ctx(t)
	p.WaitUntil(ctx, "delivered to retry", func() bool { return p.Count("retry", "COMPLETED") == 1 })
	p.WaitUntil(ctx, "parked at reject", func() bool { return p.Count("reject", "ERROR") == 1 })
	if n := len(w.requests()); n != 4 {
		t.Errorf("retry group: %d requests, want 4", n)
	}
	if got := p.Stats().Get("group:retry", "retried"); got != 3 {
		t.Errorf("retried %d, want 3", got)
	}
	if n := len(rej.requests()); n != 1 {
		t.Errorf("a rejection was retried: %d requests", n)
	}
	if b := string(rej.requests()[0].body); b != `{"id": "`+sub.UUID+`"}` {
		t.Errorf("template body %q", b)
	}
	errs, err := p.Store().Errors(ctx, 10)
	if err != nil || len(errs) != 1 || !strings.Contains(errs[0].LastError, "HTTP 400") || !strings.Contains(errs[0].LastError, "webhook says 400") {
		t.Fatalf("parked error: %+v %v", errs, err)
	}
	if p.Backlog() != 1 {
		t.Error("a parked submission was cleaned up")
	}
	if strings.Contains(strings.Join(p.LogLines("s3cret"), "\n"), "s3cret") {
		t.Error("the URL's query reached the log")
	}
	if len(p.LogLines("level=WARN", "kind=server", "HTTP 503")) == 0 {
		t.Error("no WARN for the 503")
	}
	// `queue retry` puts it back; the webhook takes it now; then the
	// submission is cleaned up.
	if n, err := p.Store().RetryErrors(ctx, "reject"); err != nil || n != 1 {
		t.Fatalf("retry put back %d: %v", n, err)
	}
	p.WaitUntil(ctx, "delivered after queue retry and cleaned", p.Cleaned)
	if n := len(rej.requests()); n != 2 {
		t.Errorf("%d requests to the rejecting webhook, want 2", n)
	}
}
