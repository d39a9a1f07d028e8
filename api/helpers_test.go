package api

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// testLogger writes to the test log only when -v is given.
func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// recorder collects what the server's OnSubmit saw.
type recorder struct {
	mu   sync.Mutex
	recs []*Received
	ch   chan *Received
}

func newRecorder() *recorder { return &recorder{ch: make(chan *Received, 1000)} }

func (r *recorder) on(rec *Received) {
	r.mu.Lock()
	r.recs = append(r.recs, rec)
	r.mu.Unlock()
	r.ch <- rec
}

func (r *recorder) all() []*Received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Received(nil), r.recs...)
}

// startServer runs the receiving server on a real loopback HTTP listener
// and returns it with its location ("http://127.0.0.1:port").
func startServer(t testing.TB, o ServerOptions) (*Server, string, *recorder) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	rec := newRecorder()
	if o.OnSubmit == nil {
		o.OnSubmit = rec.on
	}
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs.URL, rec
}

// startHandler serves h on loopback and returns its location.
func startHandler(t testing.TB, h http.HandlerFunc) string {
	t.Helper()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	return hs.URL
}

func newTestClient(t testing.TB, o ClientOptions) *Client {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	c, err := NewClient(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func writeTestFile(t testing.TB, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// submissionDirs lists the per-submission directories under dir (and any
// leftover staging dirs), ignoring the journal and CA file.
func submissionDirs(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	return out
}

func newSub(description string) *collector.Submission { return collector.NewSubmission(description) }
