// Package collectortest provides an in-memory Sink and State for unit tests
// of collectors. End-to-end tests use the real runtime and store instead.
package collectortest

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

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

// ExampleConfig builds every section of kind in the example INI file at
// path with factory, as the daemon's loader would, and fails the test on
// any reported problem. It returns how many sections it built.
func ExampleConfig(t testing.TB, path, kind string, factory collector.Factory) int {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, s := range f.Sections() {
		if s.Key("type").String() != kind {
			continue
		}
		n++
		var p collector.Problems
		sec := collector.NewSection(s, &p)
		sec.Ignore("type", "enabled")
		if _, err := factory(sec, collector.Global{Hostname: "h", BaseDir: t.TempDir()}); err != nil {
			t.Fatalf("%s [%s]: %v", path, s.Name(), err)
		}
		sec.Done()
		if err := p.Err(); err != nil {
			t.Errorf("%s [%s]: %v", path, s.Name(), err)
		}
	}
	if n == 0 {
		t.Errorf("%s has no section of type %s", path, kind)
	}
	return n
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
