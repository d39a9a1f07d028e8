package filedrop

import (
	"context"
	"crypto/md5" //nolint:gosec
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// harness runs one filedrop collector on a temporary directory against a
// recording sink, with real fsnotify.
type harness struct {
	t    testing.TB
	dir  string
	sink *collectortest.Sink
	env  *collector.Env
	c    *Collector
}

// base is the config every run test starts from: no periodic rescan to
// speak of (events must do the work) and a fast retry.
const base = "rescan_interval = 1h\nretry_backoff = 5ms\nretry_max_backoff = 20ms\n"

// start builds a collector from extra config lines (directory is set to a
// fresh temp dir; "DIR" in extra is replaced by it), runs it, and waits
// for its first scan, after which the watch is in place.
func start(t testing.TB, extra string, sink collector.Sink) *harness {
	t.Helper()
	h := newHarness(t, extra)
	h.run(sink)
	return h
}

func newHarness(t testing.TB, extra string) *harness {
	t.Helper()
	dir := t.TempDir()
	c, err := build(t, "directory = "+dir+"\n"+base+strings.ReplaceAll(extra, "DIR", dir))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return &harness{t: t, dir: dir, c: c, sink: collectortest.NewSink()}
}

func (h *harness) run(sink collector.Sink) {
	h.t.Helper()
	if sink == nil {
		sink = h.sink
	}
	h.env = collectortest.Env(h.t, "drop", sink, collectortest.NewState())
	logs := collectortest.RecordLogs(h.env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx, h.env) }()
	h.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				h.t.Errorf("Run returned %v", err)
			} else {
				logs.CheckStartStop(h.t, "directory")
			}
		case <-time.After(5 * time.Second):
			h.t.Errorf("Run did not stop")
		}
	})
	h.eventually("first scan", func() bool { return h.count("scans") >= 1 })
}

func (h *harness) count(event string) int64 { return h.env.Stats.Get("drop", event) }

// eventually polls cond until it holds or a deadline passes.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			h.t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// waitSubs waits for n submissions.
func (h *harness) waitSubs(n int) []*collector.Submission {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	subs, err := h.sink.WaitFor(ctx, n)
	if err != nil {
		h.t.Fatalf("waiting for %d submissions, got %d: %v", n, len(subs), err)
	}
	return subs
}

// drop writes rel (under the drop dir) the way a well-behaved writer does:
// as rel.new, then renamed into place. A non-zero mtime is set first.
func (h *harness) drop(rel string, data []byte, mtime time.Time) string {
	h.t.Helper()
	p := filepath.Join(h.dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
		h.t.Fatal(err)
	}
	writeAt(h.t, p+".new", data, mtime)
	if err := os.Rename(p+".new", p); err != nil {
		h.t.Fatal(err)
	}
	return p
}

// writeAt writes path directly and sets its mtime if non-zero.
func writeAt(t testing.TB, path string, data []byte, mtime time.Time) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func (h *harness) gone(path string) {
	h.t.Helper()
	h.eventually(path+" to disappear", func() bool {
		_, err := os.Lstat(path)
		return errors.Is(err, os.ErrNotExist)
	})
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func digests(b []byte) (string, string, string) {
	m := md5.Sum(b) //nolint:gosec
	s1 := sha1.Sum(b)
	s2 := sha256.Sum256(b)
	return hex.EncodeToString(m[:]), hex.EncodeToString(s1[:]), hex.EncodeToString(s2[:])
}

func obsMap(sub *collector.Submission) map[string]string {
	m := map[string]string{}
	for _, o := range sub.Observables {
		m[o.Type] = o.Value
	}
	return m
}

// hookSink passes submissions to the recording sink and runs after (if
// set) once it returned nil, like code that runs while the runtime commits.
type hookSink struct {
	*collectortest.Sink
	after func(sub *collector.Submission)
}

func (s *hookSink) Submit(ctx context.Context, sub *collector.Submission) error {
	if err := s.Sink.Submit(ctx, sub); err != nil {
		return err
	}
	if s.after != nil {
		s.after(sub)
	}
	return nil
}
