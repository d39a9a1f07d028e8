package collector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/persistence"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

var oneGroup = []collector.GroupTarget{{Name: "g", Coverage: 100}}

// storeRig is a real store and runtime over dir/q.db and dir/incoming.
type storeRig struct {
	t        *testing.T
	dir      string
	incoming string
	store    *persistence.Store
	rt       *collector.Runtime
	stats    *collector.Stats
	logs     *bytes.Buffer
}

func openRig(t *testing.T, dir string, cfg persistence.Config, shared bool) *storeRig {
	t.Helper()
	if cfg.Driver == "" {
		cfg.Path = filepath.Join(dir, "q.db")
	}
	store, err := persistence.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := &storeRig{t: t, dir: dir, incoming: filepath.Join(dir, "incoming"), store: store,
		stats: collector.NewStats(), logs: &bytes.Buffer{}}
	r.rt, err = collector.NewRuntime(collector.RuntimeOptions{
		Queue: store, IncomingDir: r.incoming, Groups: oneGroup, Stats: r.stats,
		Log: slog.New(slog.NewTextHandler(lockedWriter{w: r.logs}, nil)), SharedIncoming: shared,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

type lockedWriter struct{ w *bytes.Buffer }

var logMu sync.Mutex

func (l lockedWriter) Write(p []byte) (int, error) {
	logMu.Lock()
	defer logMu.Unlock()
	return l.w.Write(p)
}

// submitN stores n submissions, each with two files (one nested), and
// returns uuid → the content of its first file.
func (r *storeRig) submitN(prefix string, n int) map[string]string {
	r.t.Helper()
	out := map[string]string{}
	src := r.t.TempDir()
	for i := 0; i < n; i++ {
		content := fmt.Sprintf("%s content %d", prefix, i)
		p := filepath.Join(src, fmt.Sprintf("%s-%d", prefix, i))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			r.t.Fatal(err)
		}
		sub := collector.NewSubmission(fmt.Sprintf("%s %d", prefix, i))
		sub.DedupKey = fmt.Sprintf("%s-key-%d", prefix, i)
		sub.Files = []collector.File{{Path: p, Name: "sample.bin", DeleteSource: true}, {Path: p, Name: "nested/copy.bin"}}
		if err := r.rt.Sink("drop", "test", nil).Submit(context.Background(), sub); err != nil {
			r.t.Fatal(err)
		}
		out[sub.UUID] = content
	}
	return out
}

// claimAll claims every READY item of group g and returns uuid → payload.
func (r *storeRig) claimAll() map[string][]byte {
	r.t.Helper()
	items, err := r.store.Claim(context.Background(), "g", "test-owner", 100000)
	if err != nil {
		r.t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, it := range items {
		out[it.UUID] = it.Payload
	}
	return out
}

// checkDelivered asserts that every submission in want is claimable and
// that the files its record names are there with their content.
func (r *storeRig) checkDelivered(want map[string]string) {
	r.t.Helper()
	got := r.claimAll()
	missing := 0
	for id, content := range want {
		payload, ok := got[id]
		if !ok {
			missing++
			continue
		}
		var sub collector.Submission
		if err := json.Unmarshal(payload, &sub); err != nil {
			r.t.Fatalf("%s: payload: %v", id, err)
		}
		if len(sub.Files) != 2 {
			r.t.Fatalf("%s: files %+v", id, sub.Files)
		}
		for _, f := range sub.Files {
			b, err := os.ReadFile(f.Path)
			if err != nil || string(b) != content {
				r.t.Fatalf("%s: staged file %s: %q, %v", id, f.Path, b, err)
			}
		}
	}
	if missing > 0 || len(got) != len(want) {
		r.t.Fatalf("%d of %d submissions not claimable; %d claimed", missing, len(want), len(got))
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

// The store loses records in each of four ways after 10 checkpointed and 60
// more committed submissions with files, taken as a crash would leave them
// (the database and its WAL copied while open). The next start re-enqueues
// every submission whose record is gone, from its manifest; nothing is
// deleted and every one of the 70 is claimable with its files.
func TestStoreThatLostRecordsNeverLosesTheirFiles(t *testing.T) {
	const base, n = 10, 60
	damages := []struct {
		name string
		harm func(t *testing.T, db string)
		// replaced: the store comes back as a new one (new id)
		replaced, mustLose bool
	}{
		{"no damage (control)", func(*testing.T, string) {}, false, false},
		{"WAL deleted", func(t *testing.T, db string) {
			if err := os.Remove(db + "-wal"); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"WAL pages overwritten", func(t *testing.T, db string) {
			f, err := os.OpenFile(db+"-wal", os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			const frame = 24 + 4096 // frame header + page
			frames := (st.Size() - 32) / frame
			junk := bytes.Repeat([]byte{0xA5}, 2*frame)
			if _, err := f.WriteAt(junk, 32+frames/2*frame); err != nil {
				t.Fatal(err)
			}
		}, false, true},
		{"database truncated to 0", func(t *testing.T, db string) {
			if err := os.Truncate(db, 0); err != nil {
				t.Fatal(err)
			}
		}, true, true},
		{"database deleted", func(t *testing.T, db string) {
			if err := os.Remove(db); err != nil {
				t.Fatal(err)
			}
		}, true, true},
	}
	for _, d := range damages {
		t.Run(d.name, func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "q.db")
			r := openRig(t, dir, persistence.Config{}, false)
			want := r.submitN("base", base)
			if _, err := r.store.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				t.Fatal(err)
			}
			for id, c := range r.submitN("late", n) {
				want[id] = c
			}
			before, err := r.store.Meta(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			// What a crash leaves: the files as they are now, no
			// checkpoint at close.
			snap := t.TempDir()
			copyFile(t, db, filepath.Join(snap, "db"))
			copyFile(t, db+"-wal", filepath.Join(snap, "wal"))
			r.store.Close()
			copyFile(t, filepath.Join(snap, "db"), db)
			copyFile(t, filepath.Join(snap, "wal"), db+"-wal")
			os.Remove(db + "-shm")

			d.harm(t, db)

			t0 := time.Now()
			r = openRig(t, dir, persistence.Config{}, false)
			t1 := time.Now()
			rep, err := r.rt.SweepIncoming(context.Background())
			t.Logf("open %v sweep %v", t1.Sub(t0), time.Since(t1))
			if err != nil {
				t.Fatalf("sweep: %v\n%s", err, r.logs)
			}
			t.Logf("sweep: %+v", rep)
			if rep.Removed != 0 || rep.SetAside != 0 || rep.Foreign != 0 || rep.Kept+rep.Requeued != base+n {
				t.Fatalf("sweep %+v: want every one of %d kept or re-enqueued", rep, base+n)
			}
			if d.mustLose && rep.Requeued == 0 {
				t.Fatalf("the damage lost no record (%+v): the test does not test", rep)
			}
			after, err := r.store.Meta(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if replaced := after.StoreID != before.StoreID; replaced != d.replaced {
				t.Errorf("store replaced: %v, want %v", replaced, d.replaced)
			}
			if d.replaced && rep.FromEarlierStore != rep.Requeued {
				t.Errorf("%d of %d re-enqueued reported as from an earlier store", rep.FromEarlierStore, rep.Requeued)
			}
			if !d.replaced && rep.FromEarlierStore != 0 {
				t.Errorf("%d reported as from an earlier store; the store was not replaced", rep.FromEarlierStore)
			}
			if got := r.stats.Get("runtime", "orphan_dirs_requeued"); got != int64(rep.Requeued) {
				t.Errorf("orphan_dirs_requeued %d, want %d", got, rep.Requeued)
			}
			r.checkDelivered(want)
			// A second start finds every record: nothing more to do.
			again, err := r.rt.SweepIncoming(context.Background())
			if err != nil || again.Requeued != 0 || again.Kept != base+n {
				t.Fatalf("second sweep %+v, %v", again, err)
			}
		})
	}
}

// MySQL has no file to damage here; records deleted behind the daemon's
// back stand for a database restored from an older backup. The shared
// incoming dir only looks at entries older than OrphanAge.
func TestMySQLStoreThatLostRecordsNeverLosesTheirFiles(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{Driver: "mysql", DSN: dsn}, true)
	want := r.submitN("m", 50)
	if rep, err := r.rt.SweepIncoming(context.Background()); err != nil || rep.Skipped != 50 {
		t.Fatalf("young entries in a shared incoming dir: %+v, %v", rep, err)
	}
	for _, q := range []string{"DELETE FROM work_distribution", "DELETE FROM incoming_workload WHERE id % 2 = 0"} {
		if _, err := r.store.DB().Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-time.Hour)
	ents, _ := os.ReadDir(r.incoming)
	for _, e := range ents {
		os.Chtimes(filepath.Join(r.incoming, e.Name()), old, old)
	}
	rep, err := r.rt.SweepIncoming(context.Background())
	if err != nil || rep.Requeued != 25 || rep.Kept != 25 || rep.Removed+rep.SetAside != 0 {
		t.Fatalf("sweep %+v, %v", rep, err)
	}
	// The kept half lost its delivery states too; only the re-enqueued
	// half is claimable (recover's business on SQLite, a DBA's on MySQL).
	got := r.claimAll()
	if len(got) != 25 {
		t.Fatalf("%d claimable, want the 25 re-enqueued", len(got))
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			t.Fatalf("unknown submission %s claimed", id)
		}
	}
}

// Someone's files in incoming_dir (or incoming_dir pointed at a directory
// in use) are never touched, and each is logged once.
func TestSweepTouchesOnlyWhatTheProjectCreated(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{}, false)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "precious"), []byte("precious"), 0o600)
	foreign := map[string]string{ // path → content ("" for a directory)
		"projectA/thesis.txt":                               "chapter 1",
		"projectB/sub/data.csv":                             "a,b",
		".hidden/x":                                         "x",
		"notes.txt":                                         "notes",
		"11111111-1111-4111-8111-111111111111":              "a file named like a uuid",
		".ace-staging-not-a-uuid/f":                         "f",
		".ace-submission.json":                              "{}",
		"11111111-1111-4111-8111-11111111111/f":             "one digit short",
		"{11111111-1111-4111-8111-111111111111}/f":          "braces",
		"urn:uuid:11111111-1111-4111-8111-111111111111/f":   "urn",
		".ace-staging-11111111-1111-4111-8111-11111111111/": "",
	}
	for p, content := range foreign {
		full := filepath.Join(r.incoming, p)
		if strings.HasSuffix(p, "/") {
			os.MkdirAll(full, 0o750)
			continue
		}
		os.MkdirAll(filepath.Dir(full), 0o750)
		if err := os.WriteFile(full, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	link := "22222222-2222-4222-8222-222222222222" // a symlink named like a submission
	if err := os.Symlink(outside, filepath.Join(r.incoming, link)); err != nil {
		t.Fatal(err)
	}
	names, err := collector.ForeignEntries(r.incoming)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{".ace-staging-11111111-1111-4111-8111-11111111111", ".ace-staging-not-a-uuid",
		".ace-submission.json", ".hidden", "11111111-1111-4111-8111-111111111111",
		"11111111-1111-4111-8111-11111111111", link, "notes.txt", "projectA", "projectB",
		"urn:uuid:11111111-1111-4111-8111-111111111111", "{11111111-1111-4111-8111-111111111111}"}
	sort.Strings(wantNames)
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Fatalf("ForeignEntries:\n got %q\nwant %q", names, wantNames)
	}
	stored := r.submitN("ours", 1)
	for i := 0; i < 2; i++ {
		rep, err := r.rt.SweepIncoming(context.Background())
		if err != nil || rep.Foreign != len(wantNames) || rep.Kept != 1 || rep.Removed+rep.Requeued+rep.SetAside != 0 {
			t.Fatalf("sweep %d: %+v, %v", i, rep, err)
		}
	}
	for p, content := range foreign {
		if strings.HasSuffix(p, "/") {
			if _, err := os.Stat(filepath.Join(r.incoming, p)); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			continue
		}
		if b, err := os.ReadFile(filepath.Join(r.incoming, p)); err != nil || string(b) != content {
			t.Errorf("%s: %q, %v", p, b, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(r.incoming, link, "precious")); err != nil || string(b) != "precious" {
		t.Errorf("through the symlink: %q, %v", b, err)
	}
	logs := r.logs.String()
	for _, n := range wantNames {
		if c := strings.Count(logs, "name="+quoteIfNeeded(n)+"\n"); c != 1 {
			t.Errorf("%s logged %d times, want once", n, c)
		}
	}
	if strings.Count(logs, "level=WARN") != len(wantNames) {
		t.Errorf("want one WARN per foreign entry:\n%s", logs)
	}
	if got := r.stats.Get("runtime", "incoming_foreign_entries"); got != int64(len(wantNames)) {
		t.Errorf("incoming_foreign_entries %d", got)
	}
	r.checkDelivered(stored)
}

// quoteIfNeeded renders a string as slog's text handler does.
func quoteIfNeeded(s string) string {
	var b bytes.Buffer
	slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key != "v" {
			return slog.Attr{}
		}
		return a
	}})).Info("", "v", s)
	return strings.TrimSuffix(strings.TrimPrefix(b.String(), "v="), "\n")
}

// A submission directory with no record and no usable manifest (staged by
// an older version, or damaged) cannot be rebuilt: it is moved aside,
// never deleted, and left there by later sweeps.
func TestSweepSetsAsideWhatItCannotRebuild(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{}, false)
	cases := map[string]string{ // uuid → manifest content ("" for none)
		"33333333-3333-4333-8333-333333333333": "",
		"44444444-4444-4444-8444-444444444444": "{not json",
		"55555555-5555-4555-8555-555555555555": `{"version":1,"uuid":"66666666-6666-4666-8666-666666666666","collector":"c","mode":"analysis","submission":{}}`,
	}
	for id, manifest := range cases {
		d := filepath.Join(r.incoming, id)
		os.MkdirAll(d, 0o750)
		os.WriteFile(filepath.Join(d, "sample.bin"), []byte("keep "+id), 0o600)
		if manifest != "" {
			os.WriteFile(filepath.Join(d, collector.ManifestName), []byte(manifest), 0o600)
		}
	}
	rep, err := r.rt.SweepIncoming(context.Background())
	if err != nil || rep.SetAside != len(cases) || rep.Requeued+rep.Removed != 0 {
		t.Fatalf("sweep %+v, %v", rep, err)
	}
	for id := range cases {
		b, err := os.ReadFile(filepath.Join(r.incoming, collector.SetAsideName, id, "sample.bin"))
		if err != nil || string(b) != "keep "+id {
			t.Errorf("%s set aside: %q, %v", id, b, err)
		}
		if !strings.Contains(r.logs.String(), "uuid="+id) {
			t.Errorf("%s not named in the log", id)
		}
	}
	if rep, err := r.rt.SweepIncoming(context.Background()); err != nil || rep != (collector.SweepReport{}) {
		t.Fatalf("second sweep %+v, %v", rep, err)
	}
	if n, _ := r.store.Backlog(context.Background()); n != 0 {
		t.Fatalf("backlog %d", n)
	}
}

// gateQueue holds the first Enqueue until released, so a sweep can run
// while a Submit is between staging and commit.
type gateQueue struct {
	*persistence.Store
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	fail    error
}

func (q *gateQueue) Enqueue(ctx context.Context, w collector.QueuedWork) (bool, []string, error) {
	if q.fail != nil {
		return false, nil, q.fail
	}
	q.once.Do(func() {
		close(q.entered)
		<-q.release
	})
	return q.Store.Enqueue(ctx, w)
}

// The sweep leaves alone a submission this process is committing right
// now, though its directory has a manifest and no record yet.
func TestSweepLeavesSubmissionInFlight(t *testing.T) {
	dir := t.TempDir()
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	q := &gateQueue{Store: store, entered: make(chan struct{}), release: make(chan struct{})}
	rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: q, IncomingDir: filepath.Join(dir, "incoming"), Groups: oneGroup})
	if err != nil {
		t.Fatal(err)
	}
	sub := collector.NewSubmission("in flight")
	sub.AddFile(sourceFile(t, "data"), "f")
	done := make(chan error, 1)
	go func() { done <- rt.Sink("c", "t", nil).Submit(context.Background(), sub) }()
	<-q.entered
	if _, err := collector.ReadManifest(filepath.Join(dir, "incoming", sub.UUID)); err != nil {
		t.Fatalf("no manifest before the commit: %v", err)
	}
	rep, err := rt.SweepIncoming(context.Background())
	if err != nil || rep.Skipped != 1 || rep.Requeued+rep.Removed+rep.SetAside != 0 {
		t.Fatalf("sweep during the commit: %+v, %v", rep, err)
	}
	close(q.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rep, err := rt.SweepIncoming(context.Background()); err != nil || rep.Kept != 1 {
		t.Fatalf("sweep after the commit: %+v, %v", rep, err)
	}
	if n, _ := store.Backlog(context.Background()); n != 1 {
		t.Fatalf("backlog %d", n)
	}
}

// A store that refuses writes makes the sweep fail (start-up refuses) and
// keeps every file.
func TestSweepFailsAndKeepsFilesWhenStoreRefuses(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{}, false)
	want := r.submitN("x", 5)
	if _, err := r.store.DB().Exec("DELETE FROM work_distribution; DELETE FROM incoming_workload"); err != nil {
		t.Fatal(err)
	}
	refuse := errors.New("disk on fire")
	q := &gateQueue{Store: r.store, fail: refuse}
	rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: q, IncomingDir: r.incoming, Groups: oneGroup,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.SweepIncoming(context.Background()); !errors.Is(err, refuse) {
		t.Fatalf("want the store's error, got %v", err)
	}
	for id := range want {
		if _, err := collector.ReadManifest(filepath.Join(r.incoming, id)); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	// Once the store accepts writes again, all come back.
	if rep, err := r.rt.SweepIncoming(context.Background()); err != nil || rep.Requeued != 5 {
		t.Fatalf("sweep %+v, %v", rep, err)
	}
	r.checkDelivered(want)
}

// A dedup key that outlived its record (recover salvages tables
// independently) does not stop the record from being rebuilt.
func TestRequeueDespiteRememberedDedupKey(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{}, false)
	want := r.submitN("d", 3)
	if _, err := r.store.DB().Exec("DELETE FROM work_distribution; DELETE FROM incoming_workload"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := r.store.KeyGet(context.Background(), "drop", persistence.DedupHash("d-key-0")); !ok || err != nil {
		t.Fatalf("the dedup key is not remembered (%v): the test does not test", err)
	}
	rep, err := r.rt.SweepIncoming(context.Background())
	if err != nil || rep.Requeued != 3 {
		t.Fatalf("sweep %+v, %v", rep, err)
	}
	r.checkDelivered(want)
}

// The manifest's name is reserved: attachments called like it (also as the
// first segment of a nested name) are staged under other names, and the
// manifest describes the record exactly.
func TestManifestNeverCollidesWithAttachments(t *testing.T) {
	for _, names := range [][]string{
		{collector.ManifestName, "_" + collector.ManifestName, "x/" + collector.ManifestName},
		{collector.ManifestName + "/inner.txt", collector.ManifestName + "/more/deep.txt"},
	} {
		t.Run(names[0], func(t *testing.T) {
			r := openRig(t, t.TempDir(), persistence.Config{}, false)
			sub := collector.NewSubmission("tricky names")
			for i, n := range names {
				sub.AddFile(sourceFile(t, fmt.Sprintf("attachment %d", i)), n)
			}
			if err := r.rt.Sink("drop", "test", nil).Submit(context.Background(), sub); err != nil {
				t.Fatal(err)
			}
			m, err := collector.ReadManifest(filepath.Join(r.incoming, sub.UUID))
			if err != nil {
				t.Fatal(err)
			}
			meta, _ := r.store.Meta(context.Background())
			if m.Collector != "drop" || m.Mode != "analysis" || m.StoreID != meta.StoreID || len(m.Groups) != 1 || m.Groups[0].Name != "g" {
				t.Fatalf("manifest %+v", m)
			}
			if got := r.claimAll(); !bytes.Equal(got[sub.UUID], m.Payload) {
				t.Fatalf("record and manifest differ:\n%s\n%s", got[sub.UUID], m.Payload)
			}
			seen := map[string]bool{}
			for i, f := range sub.Files {
				if f.Name == collector.ManifestName || strings.HasPrefix(f.Name, collector.ManifestName+"/") || seen[f.Name] {
					t.Errorf("file %d staged as %q", i, f.Name)
				}
				seen[f.Name] = true
				if b, err := os.ReadFile(f.Path); err != nil || string(b) != fmt.Sprintf("attachment %d", i) {
					t.Errorf("file %d (%s): %q, %v", i, f.Path, b, err)
				}
			}
			if ents, _ := os.ReadDir(r.incoming); len(ents) != 1 || ents[0].Name() != sub.UUID {
				t.Errorf("incoming holds %v, want only the submission's directory", ents)
			}
		})
	}
}

// recover's part: submissions without a record stay when their manifest can
// rebuild them (the next start re-enqueues them), the others are moved
// aside; stored ones, staging leftovers and foreign entries are not touched.
func TestSetAsideLostKeepsWhatAManifestCanRebuild(t *testing.T) {
	dir := t.TempDir()
	r := openRig(t, dir, persistence.Config{}, false)
	stored := r.submitN("s", 2)
	lost := r.submitN("l", 3)
	for id := range lost {
		if _, err := r.store.DB().Exec("DELETE FROM work_distribution WHERE work_id = (SELECT id FROM incoming_workload WHERE uuid = ?)", id); err != nil {
			t.Fatal(err)
		}
		if _, err := r.store.DB().Exec("DELETE FROM incoming_workload WHERE uuid = ?", id); err != nil {
			t.Fatal(err)
		}
	}
	legacy := filepath.Join(r.incoming, "77777777-7777-4777-8777-777777777777")
	staging := filepath.Join(r.incoming, collector.StagingPrefix+"88888888-8888-4888-8888-888888888888")
	foreign := filepath.Join(r.incoming, "projectA")
	for _, d := range []string{legacy, staging, foreign} {
		os.MkdirAll(d, 0o750)
		os.WriteFile(filepath.Join(d, "f"), []byte("f"), 0o600)
	}
	dst := filepath.Join(dir, "db.damaged.incoming")
	res, err := collector.SetAsideLost(context.Background(), r.incoming, dst, r.store.Existing)
	if err != nil || res != (collector.LostFiles{Requeue: 3, Moved: 1}) {
		t.Fatalf("%+v, %v", res, err)
	}
	if _, err := os.Stat(filepath.Join(dst, filepath.Base(legacy), "f")); err != nil {
		t.Errorf("legacy directory not moved: %v", err)
	}
	for _, d := range []string{staging, foreign} {
		if _, err := os.Stat(filepath.Join(d, "f")); err != nil {
			t.Errorf("%s touched: %v", d, err)
		}
	}
	rep, err := r.rt.SweepIncoming(context.Background())
	if err != nil || rep.Requeued != 3 || rep.Kept != 2 || rep.Removed != 1 || rep.Foreign != 1 {
		t.Fatalf("next start: %+v, %v", rep, err)
	}
	for id, c := range stored {
		lost[id] = c
	}
	r.checkDelivered(lost)
}
