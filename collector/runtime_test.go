package collector_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
)

func newRuntime(t *testing.T) (*collector.Runtime, *persistence.Store, string) {
	t.Helper()
	dir := t.TempDir()
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	rt, err := collector.NewRuntime(collector.RuntimeOptions{
		Queue: store, IncomingDir: filepath.Join(dir, "incoming"),
		Groups: []collector.GroupTarget{{Name: "g", Coverage: 100}},
		Global: collector.Global{Hostname: "sensor-7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt, store, dir
}

func sourceFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.bin")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSubmitIsDurableThenDeletesSource(t *testing.T) {
	rt, store, dir := newRuntime(t)
	src := sourceFile(t, "payload")
	sub := collector.NewSubmission("durable")
	sub.Files = []collector.File{{Path: src, Name: "../x/../evil.bin", DeleteSource: true}}
	if err := rt.Sink("c", "test", nil).Submit(context.Background(), sub); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatalf("source still exists after a committed submit: %v", err)
	}
	staged := filepath.Join(dir, "incoming", sub.UUID, "x", "evil.bin")
	if b, err := os.ReadFile(staged); err != nil || string(b) != "payload" {
		t.Fatalf("staged file %s: %q %v", staged, b, err)
	}
	if n, _ := store.Backlog(context.Background()); n != 1 {
		t.Fatalf("backlog %d", n)
	}
	if sub.Tool != "ace-collector test" || sub.ToolInstance != "sensor-7" {
		t.Errorf("defaults not applied: %+v", sub)
	}
}

func TestStoreFailureKeepsSource(t *testing.T) {
	rt, store, dir := newRuntime(t)
	store.Close() // the store is gone: Submit must fail and keep the input
	src := sourceFile(t, "keep me")
	sub := collector.NewSubmission("no store")
	sub.Files = []collector.File{{Path: src, Name: "f", DeleteSource: true}}
	err := rt.Sink("c", "test", nil).Submit(context.Background(), sub)
	if err == nil || errors.Is(err, collector.ErrInvalid) {
		t.Fatalf("want a store error, got %v", err)
	}
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("source lost after a failed submit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "incoming", sub.UUID)); !os.IsNotExist(err) {
		t.Fatal("staging directory left behind")
	}
}

func TestInvalidSubmission(t *testing.T) {
	rt, _, _ := newRuntime(t)
	sub := collector.NewSubmission("")
	if err := rt.Sink("c", "test", nil).Submit(context.Background(), sub); !errors.Is(err, collector.ErrInvalid) {
		t.Fatalf("want ErrInvalid, got %v", err)
	}
	missing := collector.NewSubmission("missing file")
	missing.AddFile("/nonexistent/file", "f")
	if err := rt.Sink("c", "test", nil).Submit(context.Background(), missing); !errors.Is(err, collector.ErrInvalid) {
		t.Fatalf("missing attachment: want ErrInvalid, got %v", err)
	}
}

func TestDedupKey(t *testing.T) {
	rt, store, _ := newRuntime(t)
	sink := rt.Sink("c", "test", nil)
	for i := 0; i < 3; i++ {
		s := collector.NewSubmission("same event")
		s.DedupKey = "event-42"
		if err := sink.Submit(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := store.Backlog(context.Background()); n != 1 {
		t.Fatalf("backlog %d, want 1", n)
	}
}

// A crash while staging leaves .ace-staging-<uuid>: nothing under that name
// was ever committed, so the sweep removes it; the directory of a stored
// submission is kept.
func TestUnfinishedStagingRemovedStoredKept(t *testing.T) {
	dir := t.TempDir()
	incoming := filepath.Join(dir, "incoming")
	orphan := filepath.Join(incoming, collector.StagingPrefix+"11111111-1111-4111-8111-111111111111")
	os.MkdirAll(orphan, 0o750)
	os.WriteFile(filepath.Join(orphan, "half-written"), []byte("x"), 0o600)
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: store, IncomingDir: incoming,
		Groups: []collector.GroupTarget{{Name: "g", Coverage: 100}}})
	if err != nil {
		t.Fatal(err)
	}
	kept := collector.NewSubmission("stored")
	kept.AddFile(sourceFile(t, "x"), "f")
	if err := rt.Sink("c", "t", nil).Submit(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	rep, err := rt.SweepIncoming(context.Background())
	if err != nil || rep.Removed != 1 || rep.Kept != 1 || rep.Requeued != 0 || rep.SetAside != 0 {
		t.Fatalf("sweep %+v, %v", rep, err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatal("unfinished staging directory still there")
	}
	if _, err := os.Stat(filepath.Join(incoming, kept.UUID)); err != nil {
		t.Fatalf("stored submission's files removed: %v", err)
	}
}
