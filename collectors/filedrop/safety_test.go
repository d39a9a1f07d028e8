package filedrop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// A writer that renames a new file over a name while the old content is
// being submitted must not lose the new file: it is not deleted, and is
// submitted on its own.
func TestReplacedNameIsKept(t *testing.T) {
	var once atomic.Bool
	h := newHarness(t, "")
	sink := &hookSink{Sink: h.sink}
	sink.after = func(sub *collector.Submission) {
		if once.CompareAndSwap(false, true) {
			p := filepath.Join(h.dir, "alert.json")
			writeAt(t, p+".new", []byte("second"), time.Time{})
			if err := os.Rename(p+".new", p); err != nil {
				t.Error(err)
			}
		}
	}
	h.run(sink)
	p := h.drop("alert.json", []byte("first"), time.Time{})
	subs := h.waitSubs(2)
	var got []string
	for _, s := range subs {
		got = append(got, string(h.sink.Contents[s.UUID]["alert.json"]))
	}
	if len(got) != 2 || got[0] != "first" || got[1] != "second" {
		t.Errorf("contents %q", got)
	}
	h.gone(p)
	if n := h.count("changed_after_submit"); n != 1 {
		t.Errorf("changed_after_submit = %d", n)
	}
}

// The runtime takes the in-flight link (DeleteSource); the drop
// directory's file is still removed by the collector.
func TestRuntimeTakesLink(t *testing.T) {
	h := newHarness(t, "")
	sink := &hookSink{Sink: h.sink, after: func(sub *collector.Submission) {
		for _, f := range sub.Files {
			if f.DeleteSource {
				if err := os.Remove(f.Path); err != nil {
					t.Error(err)
				}
			}
		}
	}}
	h.run(sink)
	p := h.drop("a", []byte("a"), time.Time{})
	h.waitSubs(1)
	h.gone(p)
}

// A submitted file that cannot be moved to done_directory stays, is not
// submitted again, and is moved once that works.
func TestDisposeFailureIsRetriedNotResubmitted(t *testing.T) {
	h := start(t, "after = move\ndone_directory = DIR/.done\nrescan_interval = 20ms\n", nil)
	done := filepath.Join(h.dir, ".done")
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	writeAt(t, done, []byte("a file where the directory should be"), time.Time{})
	p := h.drop("x", []byte("x"), time.Time{})
	h.waitSubs(1)
	h.eventually("dispose failure", func() bool { return h.count("dispose_failed") == 1 })
	scans := h.count("scans")
	h.eventually("two rescans", func() bool { return h.count("scans") >= scans+2 })
	if n := len(h.sink.Submissions()); n != 1 || !exists(p) {
		t.Fatalf("%d submissions, file exists %v", n, exists(p))
	}
	if err := os.Remove(done); err != nil {
		t.Fatal(err)
	}
	h.gone(p)
	if b, err := os.ReadFile(filepath.Join(done, "x")); err != nil || string(b) != "x" {
		t.Errorf("done/x = %q, %v", b, err)
	}
	if n := len(h.sink.Submissions()); n != 1 {
		t.Errorf("%d submissions", n)
	}
}

func TestProcessVanishedAndChanged(t *testing.T) {
	c, err := build(t, "directory = "+t.TempDir()+"\n")
	if err != nil {
		t.Fatal(err)
	}
	if err := resetInflight(filepath.Join(c.cfg.Dir, InflightDir)); err != nil {
		t.Fatal(err)
	}
	sink := collectortest.NewSink()
	env := collectortest.Env(t, "drop", sink, collectortest.NewState())
	st := newRunState()
	p := filepath.Join(c.cfg.Dir, "f")
	writeAt(t, p, []byte("v1"), time.Now().Add(-time.Hour))
	info, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	f := candidate{path: p, rel: "f", info: info}

	// Written again after it was listed.
	writeAt(t, p, []byte("v2 longer"), time.Time{})
	out, err := c.process(context.Background(), env, st, f)
	if err != nil || out != changed || env.Stats.Get("drop", "changed_while_reading") != 1 {
		t.Errorf("changed file: %v, %v", out, err)
	}
	// Gone between listing and opening.
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	out, err = c.process(context.Background(), env, st, f)
	if err != nil || out != skipped || env.Stats.Get("drop", "vanished") != 1 {
		t.Errorf("vanished file: %v, %v", out, err)
	}
	if len(sink.Submissions()) != 0 {
		t.Error("submitted")
	}
	ents, _ := os.ReadDir(filepath.Join(c.cfg.Dir, InflightDir))
	if len(ents) != 0 {
		t.Errorf("in-flight links left: %v", ents)
	}
}

func TestStaleInflightCleanedAtStart(t *testing.T) {
	h := newHarness(t, "")
	dir := filepath.Join(h.dir, InflightDir)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	writeAt(t, filepath.Join(dir, "stale"), []byte("x"), time.Time{})
	h.run(nil)
	if _, err := os.Lstat(filepath.Join(dir, "stale")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale link kept: %v", err)
	}
	if len(h.sink.Submissions()) != 0 {
		t.Error("in-flight directory was scanned")
	}
}

func TestSymlinkedDirectory(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "drop")
	if err := os.Symlink(real, link); err != nil {
		t.Skip("symlinks unsupported:", err)
	}
	c, err := build(t, "directory = "+link+"\n"+base)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, dir: real, c: c, sink: collectortest.NewSink()}
	h.run(nil)
	p := h.drop("x", []byte("x"), time.Time{})
	if subs := h.waitSubs(1); subs[0].Files[0].Name != "x" {
		t.Errorf("submitted %v", subs[0].Files)
	}
	h.gone(p)
}
