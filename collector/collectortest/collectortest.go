// Package collectortest provides an in-memory Sink and State for unit tests
// of collectors. End-to-end tests use the real runtime and store instead.
package collectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

// Sink records submissions. Set Fail to make Submit return an error
// (simulating a store failure). Files are read into Contents at submit time
// so tests can check them after the source was deleted.
type Sink struct {
	mu       sync.Mutex
	subs     []*collector.Submission
	Contents map[string]map[string][]byte // uuid -> file name -> data
	Fail     error
	notify   chan struct{}
}

// NewSink returns an empty recording sink.
func NewSink() *Sink {
	return &Sink{Contents: map[string]map[string][]byte{}, notify: make(chan struct{}, 1<<16)}
}

// Submit validates and records sub.
func (s *Sink) Submit(ctx context.Context, sub *collector.Submission) error {
	s.mu.Lock()
	fail := s.Fail
	s.mu.Unlock()
	if fail != nil {
		return fail
	}
	if err := sub.Validate(); err != nil {
		return err
	}
	files := map[string][]byte{}
	for _, f := range sub.Files {
		b, err := os.ReadFile(f.Path)
		if err != nil {
			return err
		}
		files[f.Name] = b
	}
	s.mu.Lock()
	s.subs = append(s.subs, sub)
	s.Contents[sub.UUID] = files
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// SetFail sets or clears the injected failure.
func (s *Sink) SetFail(err error) {
	s.mu.Lock()
	s.Fail = err
	s.mu.Unlock()
}

// Submissions returns what was recorded so far.
func (s *Sink) Submissions() []*collector.Submission {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*collector.Submission(nil), s.subs...)
}

// WaitFor blocks until at least n submissions were recorded or ctx ends.
func (s *Sink) WaitFor(ctx context.Context, n int) ([]*collector.Submission, error) {
	for {
		if subs := s.Submissions(); len(subs) >= n {
			return subs, nil
		}
		select {
		case <-s.notify:
		case <-ctx.Done():
			return s.Submissions(), ctx.Err()
		}
	}
}

// State is an in-memory collector.State.
type State struct {
	mu sync.Mutex
	M  map[string][]byte
}

// NewState returns an empty state.
func NewState() *State { return &State{M: map[string][]byte{}} }

func (s *State) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.M[key]
	return v, ok, nil
}

func (s *State) Put(_ context.Context, key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.M[key] = append([]byte(nil), value...)
	return nil
}

func (s *State) PutVolatile(ctx context.Context, key string, value []byte) error {
	return s.Put(ctx, key, value)
}

func (s *State) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.M, key)
	return nil
}

// Env returns an Env for a collector named name that submits to sink.
func Env(t testing.TB, name string, sink collector.Sink, state collector.State) *collector.Env {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return &collector.Env{
		Name:   name,
		Sink:   sink,
		State:  state,
		Log:    slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Stats:  collector.NewStats(),
		Global: collector.Global{Node: "test-node", Hostname: "test-host"},
	}
}

// Build runs factory on a [collector_test] section with body, as the
// daemon's loader would (unknown keys included), and returns the collector
// or every problem found.
func Build(t testing.TB, body string, factory collector.Factory) (collector.Collector, error) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, []byte("[collector_test]\n"+body))
	if err != nil {
		t.Fatalf("loading ini: %v", err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_test"), &p)
	c, err := factory(sec, collector.Global{Hostname: "test-host", BaseDir: t.TempDir()})
	sec.Done()
	if err == nil {
		err = p.Err()
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// LogRecorder keeps what a collector logs, so tests can check what it
// says (e.g. its start and stop lines).
type LogRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *LogRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

// RecordLogs points env's logger at a new recorder (at debug level; under
// go test -v the lines are also written to stderr) and returns it.
func RecordLogs(env *collector.Env) *LogRecorder {
	r := &LogRecorder{}
	var w io.Writer = r
	if testing.Verbose() {
		w = io.MultiWriter(r, os.Stderr)
	}
	env.Log = slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return r
}

// Records returns the logged records in order, each as its JSON object
// (keys "level", "msg" and the attributes).
func (r *LogRecorder) Records() []map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(r.buf.Bytes(), []byte("\n")) {
		var m map[string]any
		if len(line) > 0 && json.Unmarshal(line, &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// CheckStartStop fails t unless the log holds exactly one INFO "collector
// started" line carrying every key in keys (what the collector listens on
// or watches), followed by exactly one INFO "collector stopped" line. Call
// it after Run returned.
func (r *LogRecorder) CheckStartStop(t testing.TB, keys ...string) {
	t.Helper()
	started, stopped := -1, -1
	nStarted, nStopped := 0, 0
	for i, m := range r.Records() {
		switch m["msg"] {
		case "collector started":
			started, nStarted = i, nStarted+1
			if m["level"] != "INFO" {
				t.Errorf("collector started logged at %v, want INFO", m["level"])
			}
			for _, k := range keys {
				if v, ok := m[k]; !ok || v == "" {
					t.Errorf("collector started line %v lacks %q", m, k)
				}
			}
		case "collector stopped":
			stopped, nStopped = i, nStopped+1
			if m["level"] != "INFO" {
				t.Errorf("collector stopped logged at %v, want INFO", m["level"])
			}
		}
	}
	if nStarted != 1 || nStopped != 1 || stopped < started {
		t.Errorf("want one collector started line, then one collector stopped line; got %d started (last at %d), %d stopped (last at %d)",
			nStarted, started, nStopped, stopped)
	}
}

// Queue is a minimal collector.Queue that records what was enqueued, so
// that a kind's tests can run the real runtime Sink (staging files into
// incoming_dir) without a store.
type Queue struct {
	mu    sync.Mutex
	works []collector.QueuedWork
}

// Enqueue records w.
func (q *Queue) Enqueue(_ context.Context, w collector.QueuedWork) (bool, []string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.works = append(q.works, w)
	return false, nil, nil
}

// Finished, Delete, Existing, ExpireKeys, State and Changed do nothing.
func (q *Queue) Finished(context.Context, int) ([]collector.FinishedWork, error) { return nil, nil }
func (q *Queue) Delete(context.Context, []int64) error                           { return nil }
func (q *Queue) Existing(context.Context, []string) (map[string]bool, error)     { return nil, nil }
func (q *Queue) ExpireKeys(context.Context, time.Duration, time.Duration) (int64, error) {
	return 0, nil
}
func (q *Queue) State(string) collector.State { return NewState() }
func (q *Queue) Changed() <-chan struct{}     { return nil }

// Works returns what was enqueued so far.
func (q *Queue) Works() []collector.QueuedWork {
	q.mu.Lock()
	defer q.mu.Unlock()
	return slices.Clone(q.works)
}

// Submissions decodes what was enqueued so far.
func (q *Queue) Submissions(t testing.TB) []collector.Submission {
	t.Helper()
	var out []collector.Submission
	for _, w := range q.Works() {
		var s collector.Submission
		if err := json.Unmarshal(w.Payload, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}
