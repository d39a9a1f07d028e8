package filedrop

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

func TestDropSubmitsAndDeletes(t *testing.T) {
	h := start(t, `description = drop {{.Name}} {{.Size}} {{.SHA256}}
tags = filedrop, test
queue = q1
group_assignments = main
analysis_mode = correlation
submission_type = dropped
tool = dropper
`, nil)
	mtime := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	files := map[string][]byte{
		"report.pdf": []byte("%PDF-1.7 not really"),
		"empty":      nil,
		"x y.bin":    {0, 1, 2, 3, 255},
	}
	paths := map[string]string{}
	for name, data := range files {
		paths[name] = h.drop(name, data, mtime)
	}
	subs := h.waitSubs(len(files))
	for _, sub := range subs {
		if len(sub.Files) != 1 {
			t.Fatalf("files: %+v", sub.Files)
		}
		name := sub.Files[0].Name
		data, ok := files[name]
		if !ok {
			t.Fatalf("unexpected file %q", name)
		}
		md5, sha1, sha256 := digests(data)
		obs := obsMap(sub)
		want := map[string]string{"file": name, "md5": md5, "sha1": sha1, "sha256": sha256}
		if len(obs) != 4 || fmt.Sprint(obs) != fmt.Sprint(want) {
			t.Errorf("%s observables = %v, want %v", name, obs, want)
		}
		if d := fmt.Sprintf("drop %s %d %s", name, len(data), sha256); sub.Description != d {
			t.Errorf("description %q, want %q", sub.Description, d)
		}
		if sub.AnalysisMode != "correlation" || sub.Type != "dropped" || sub.Tool != "dropper" ||
			sub.ToolInstance != "test-host" || sub.Queue != "q1" || !sub.EventTime.Equal(mtime) ||
			strings.Join(sub.Tags, ",") != "filedrop,test" || strings.Join(sub.GroupAssignments, ",") != "main" ||
			sub.DedupKey != "" {
			t.Errorf("fields: %+v", sub)
		}
		if f := sub.Files[0]; !f.DeleteSource || filepath.Dir(f.Path) != filepath.Join(h.dir, InflightDir) {
			t.Errorf("file entry %+v: want a DeleteSource link in the in-flight directory", f)
		}
		var det map[string]any
		if err := json.Unmarshal(sub.Details, &det); err != nil {
			t.Fatal(err)
		}
		if det["path"] != paths[name] || det["size"] != float64(len(data)) || det["sha256"] != sha256 ||
			det["mtime"] != "2026-05-06T07:08:09Z" {
			t.Errorf("details %v", det)
		}
		if got := h.sink.Contents[sub.UUID][name]; string(got) != string(data) {
			t.Errorf("content of %s = %q", name, got)
		}
	}
	for _, p := range paths {
		h.gone(p)
	}
	if d := h.c.InputDirs(); len(d) != 1 || d[0] != h.dir {
		t.Errorf("InputDirs() = %v, want [%s]", d, h.dir)
	}
	h.eventually("in-flight links removed", func() bool {
		ents, err := os.ReadDir(filepath.Join(h.dir, InflightDir))
		return err == nil && len(ents) == 0
	})
	if n := h.count("submitted"); n != int64(len(files)) {
		t.Errorf("submitted counter %d", n)
	}
}

// With one worker files are taken strictly oldest first (with more, in
// that order but concurrently).
func TestOldestFirst(t *testing.T) {
	h := newHarness(t, "workers = 1\n")
	now := time.Now()
	for i, name := range []string{"c", "a", "d", "b"} { // mtimes: c oldest ... b newest
		writeAt(t, filepath.Join(h.dir, name), []byte(name), now.Add(time.Duration(i-10)*time.Minute))
	}
	h.run(nil)
	var got []string
	for _, s := range h.waitSubs(4) {
		got = append(got, s.Files[0].Name)
	}
	if strings.Join(got, "") != "cadb" {
		t.Errorf("order %v, want c a d b", got)
	}
}

func TestIgnoresNewAndDotFilesUntilRenamed(t *testing.T) {
	h := start(t, "", nil)
	writeAt(t, filepath.Join(h.dir, "big.new"), []byte("partial"), time.Time{})
	writeAt(t, filepath.Join(h.dir, ".tmp-x"), []byte("hidden"), time.Time{})
	if err := os.MkdirAll(filepath.Join(h.dir, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeAt(t, filepath.Join(h.dir, "sub", "nested"), []byte("not recursive"), time.Time{})
	// The scan that finds the marker lists the others too, and would take
	// them first (older); once the marker is gone that pass is over.
	marker := h.drop("marker", []byte("m"), time.Now().Add(time.Minute))
	h.waitSubs(1)
	h.gone(marker)
	if subs := h.sink.Submissions(); len(subs) != 1 || subs[0].Files[0].Name != "marker" {
		t.Fatalf("submissions %v", subs)
	}
	for _, p := range []string{"big.new", ".tmp-x", "sub/nested"} {
		if !exists(filepath.Join(h.dir, p)) {
			t.Errorf("%s was taken", p)
		}
	}
	for old, name := range map[string]string{"big.new": "big", ".tmp-x": "tmp-x"} {
		if err := os.Rename(filepath.Join(h.dir, old), filepath.Join(h.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	subs := h.waitSubs(3)
	names := map[string]string{}
	for _, s := range subs {
		names[s.Files[0].Name] = string(h.sink.Contents[s.UUID][s.Files[0].Name])
	}
	if names["big"] != "partial" || names["tmp-x"] != "hidden" {
		t.Errorf("renamed files: %v", names)
	}
}

func TestMoveMode(t *testing.T) {
	h := start(t, "after = move\ndone_directory = DIR/done\n", nil)
	done := filepath.Join(h.dir, "done")
	p := h.drop("r.txt", []byte("one"), time.Time{})
	subs := h.waitSubs(1)
	if f := subs[0].Files[0]; f.DeleteSource || filepath.Dir(f.Path) != filepath.Join(h.dir, InflightDir) {
		t.Errorf("file entry %+v: want a copy from an in-flight link (the done file must not share the stored inode)", f)
	}
	h.gone(p)
	h.drop("r.txt", []byte("two"), time.Time{})
	h.waitSubs(2)
	h.gone(p)
	for name, want := range map[string]string{"r.txt": "one", "r-1.txt": "two"} {
		b, err := os.ReadFile(filepath.Join(done, name))
		if err != nil || string(b) != want {
			t.Errorf("done/%s = %q, %v; want %q", name, b, err, want)
		}
	}
	if len(h.sink.Submissions()) != 2 {
		t.Error("done directory was rescanned")
	}
}

func TestStoreFailureKeepsFileAndRetries(t *testing.T) {
	h := start(t, "", nil)
	h.sink.SetFail(errors.New("disk full"))
	p := h.drop("keep.me", []byte("precious"), time.Time{})
	h.eventually("retries", func() bool { return h.count("submit_failed") >= 3 })
	if b, err := os.ReadFile(p); err != nil || string(b) != "precious" {
		t.Fatalf("file after failures: %q, %v", b, err)
	}
	h.sink.SetFail(nil)
	subs := h.waitSubs(1)
	if got := string(h.sink.Contents[subs[0].UUID]["keep.me"]); got != "precious" {
		t.Errorf("content %q", got)
	}
	h.gone(p)
}

func TestInvalidIsRejected(t *testing.T) {
	h := start(t, "", nil)
	h.sink.SetFail(fmt.Errorf("%w: the sink says no", collector.ErrInvalid))
	p := h.drop("bad", []byte("bad"), time.Time{})
	rej := filepath.Join(h.dir, RejectedDir, "bad")
	h.eventually("rejection", func() bool { return exists(rej) })
	h.gone(p)
	if n := h.count("dropped_invalid"); n != 1 {
		t.Errorf("dropped_invalid = %d", n)
	}
	h.sink.SetFail(nil)
	h.drop("good", []byte("good"), time.Time{})
	if subs := h.waitSubs(1); len(subs) != 1 || subs[0].Files[0].Name != "good" {
		t.Errorf("submissions %v (the rejected file must not be rescanned)", subs)
	}
}

func TestMaxFileSize(t *testing.T) {
	h := start(t, "max_file_size = 10\n", nil)
	big := h.drop("big", []byte("01234567890"), time.Time{})
	h.eventually("big rejected", func() bool { return exists(filepath.Join(h.dir, RejectedDir, "big")) })
	h.gone(big)
	h.drop("small", []byte("0123456789"), time.Time{})
	if subs := h.waitSubs(1); subs[0].Files[0].Name != "small" {
		t.Errorf("submitted %v", subs[0].Files)
	}
	if n := h.count("dropped_too_large"); n != 1 {
		t.Errorf("dropped_too_large = %d", n)
	}
}

func TestMinAge(t *testing.T) {
	h := newHarness(t, "min_age = 1h\n")
	now := time.Now()
	writeAt(t, filepath.Join(h.dir, "old"), []byte("old"), now.Add(-2*time.Hour))
	// Ready in 200ms: only the min_age timer can find it (no event, no rescan).
	writeAt(t, filepath.Join(h.dir, "soon"), []byte("soon"), now.Add(-time.Hour+200*time.Millisecond))
	writeAt(t, filepath.Join(h.dir, "young"), []byte("young"), now)
	h.run(nil)
	subs := h.waitSubs(2)
	if subs[0].Files[0].Name != "old" || subs[1].Files[0].Name != "soon" {
		t.Fatalf("order: %s, %s", subs[0].Files[0].Name, subs[1].Files[0].Name)
	}
	// A file still being written (Write events) is not taken either.
	f, err := os.Create(filepath.Join(h.dir, "growing"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scans := h.count("scans")
	if _, err := f.WriteString("more"); err != nil {
		t.Fatal(err)
	}
	h.eventually("a scan after the write", func() bool { return h.count("scans") > scans })
	if n := len(h.sink.Submissions()); n != 2 {
		t.Errorf("%d submissions; young files were taken", n)
	}
	if !exists(filepath.Join(h.dir, "young")) || !exists(filepath.Join(h.dir, "growing")) {
		t.Error("young file removed")
	}
}

func TestRecursive(t *testing.T) {
	h := start(t, "recursive = yes\nafter = move\ndone_directory = DIR/.done\n", nil)
	p := h.drop("sub/deeper/x.bin", []byte("deep"), time.Time{})
	// Created before its directory is watched: found by the scan the
	// directory's Create event triggers.
	q := filepath.Join(h.dir, "sub2", "y.bin")
	if err := os.MkdirAll(filepath.Dir(q), 0o750); err != nil {
		t.Fatal(err)
	}
	writeAt(t, q+".new", []byte("why"), time.Time{})
	if err := os.Rename(q+".new", q); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(h.dir, ".skip"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeAt(t, filepath.Join(h.dir, ".skip", "hidden"), nil, time.Time{})
	subs := h.waitSubs(2)
	got := map[string]bool{}
	for _, s := range subs {
		got[s.Files[0].Name] = true
	}
	if !got["x.bin"] || !got["y.bin"] {
		t.Errorf("names %v", got)
	}
	h.gone(p)
	h.gone(q)
	if !exists(filepath.Join(h.dir, ".done", "sub", "deeper", "x.bin")) {
		t.Error("relative path not kept in done_directory")
	}
	// Later files in an already watched subdirectory.
	h.drop("sub/deeper/z", []byte("z"), time.Time{})
	h.waitSubs(3)
	if !exists(filepath.Join(h.dir, ".skip", "hidden")) || len(h.sink.Submissions()) != 3 {
		t.Error("a dot-directory was scanned")
	}
}

func TestDedupKey(t *testing.T) {
	h := start(t, "dedup = yes\n", nil)
	h.drop("a", []byte("same"), time.Time{})
	subs := h.waitSubs(1)
	_, _, sha := digests([]byte("same"))
	if subs[0].DedupKey != sha {
		t.Errorf("dedup key %q, want %q", subs[0].DedupKey, sha)
	}
}
