package groups_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// Records whose stored JSON is corrupt — one written truncated straight
// into the table, one overwritten with JSON that is no submission — are
// quarantined (parked ERROR with the reason, counted) and the rest of the
// backlog is delivered.
func TestCorruptRecordsAreQuarantinedAndTheRestDelivered(t *testing.T) {
	n := newNode(t)
	// The records are damaged in the store before delivery starts, as a
	// torn write or a bad disk would leave them at start-up. (A running
	// daemon hands new work to its workers in memory; what is damaged on
	// disk after that is not read again.)
	p := &pipeline{Pipeline: grouptest.NewIn(t, t.TempDir(), nodeSection("a", n.location())+"[collection_group_g]\nfull_delivery = yes\n"+fast, daemon.Options{}), t: t}
	subs := p.submit(10, nil)
	ctx := testCtx(t)
	db := p.Store().DB()

	// A truncated record inserted with SQL, as a torn write would leave it.
	const tornUUID = "00000000-0000-4000-8000-0000000000ff"
	var typeID, groupID int64
	if err := db.GetContext(ctx, &typeID, "SELECT type_id FROM incoming_workload LIMIT 1"); err != nil {
		t.Fatal(err)
	}
	groupID, err := p.Store().GroupID(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO incoming_workload (uuid, type_id, mode, work, has_files, pending, insert_date)
		VALUES (?, ?, 'analysis', ?, 0, 1, 0)`, tornUUID, typeID, []byte(`{"uuid":"`+tornUUID+`","description":"torn wr`))
	if err != nil {
		t.Fatal(err)
	}
	tornID, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, `INSERT INTO work_distribution (group_id, work_id, status, next_attempt, updated_at)
		VALUES (?, ?, 'READY', 0, 0)`, groupID, tornID); err != nil {
		t.Fatal(err)
	}
	// An existing record overwritten with valid JSON that is no submission.
	if _, err := db.ExecContext(ctx, `UPDATE incoming_workload SET work = ? WHERE uuid = ?`,
		[]byte(`{"something":"else"}`), subs[3].UUID); err != nil {
		t.Fatal(err)
	}

	p.Run()
	got := n.waitFor(ctx, 9)
	p.waitUntil(ctx, "quarantine", func() bool { return p.count("g", "ERROR") == 2 })
	p.waitUntil(ctx, "cleanup of the delivered", func() bool { return p.backlog() == 2 })
	delivered := map[string]bool{}
	for _, r := range got {
		delivered[r.SubmissionUUID] = true
	}
	for i, s := range subs {
		if i != 3 && !delivered[s.UUID] {
			t.Errorf("submission %d (%s) was not delivered", i, s.UUID)
		}
	}
	if len(delivered) != 9 {
		t.Errorf("delivered %d distinct submissions, want 9", len(delivered))
	}
	if q := p.Stats().Get("group:g", "quarantined"); q != 2 {
		t.Errorf("quarantined counter %d, want 2", q)
	}
	reasons := p.errorReasons(ctx)
	for _, u := range []string{tornUUID, subs[3].UUID} {
		if !strings.Contains(reasons[u], "corrupt record "+u) {
			t.Errorf("reason for %s: %q, want it to say corrupt record", u, reasons[u])
		}
	}
}

// A stored submission whose incoming files are gone is parked ERROR with a
// reason naming the file, and does not hold up the others.
func TestRecordWithMissingFilesIsParkedNotBlocking(t *testing.T) {
	// Node down (connections refused, so no request body is ever half
	// sent while the files disappear).
	addr, start := newDownNode(t)
	p := startPipeline(t, nodeSection("a", "http://"+addr)+"[collection_group_g]\nfull_delivery = yes\n"+fast)
	subs := p.submit(5, nil)
	ctx := testCtx(t)
	gone := subs[0]
	if err := os.RemoveAll(filepath.Join(p.Config().IncomingDir, gone.UUID)); err != nil {
		t.Fatal(err)
	}
	n := start()
	got := n.waitFor(ctx, 4)
	p.waitUntil(ctx, "parked", func() bool { return p.count("g", "ERROR") == 1 })
	for _, r := range got {
		if r.SubmissionUUID == gone.UUID {
			t.Fatal("the submission without its files was delivered")
		}
	}
	reason := p.errorReasons(ctx)[gone.UUID]
	if !strings.Contains(reason, "sample.txt") || !strings.Contains(reason, "no such file") {
		t.Errorf("reason %q does not name the missing file", reason)
	}
	if e := p.Stats().Get("group:g", "errors"); e != 1 {
		t.Errorf("errors counter %d, want 1", e)
	}
	p.waitUntil(ctx, "cleanup of the delivered", func() bool { return p.backlog() == 1 })
}

// A crash between staging files and committing the record leaves an
// incoming directory no record owns: the next start removes it (counted),
// keeps the directories of stored submissions, and delivers those with
// their files.
func TestHalfWrittenIncomingDirRemovedAtStart(t *testing.T) {
	addr, start := newDownNode(t)
	dir := t.TempDir()
	conf := nodeSection("a", "http://"+addr) + "[collection_group_g]\nfull_delivery = yes\n" + fast
	p := startPipelineIn(t, dir, conf)
	subs := p.submit(3, nil)
	incoming := p.Config().IncomingDir
	p.stop()

	// An unfinished staging directory (the name staging uses until the
	// files are complete): never committed, so the next start removes it.
	orphan := filepath.Join(incoming, ".ace-staging-00000000-0000-4000-8000-00000000beef")
	if err := os.MkdirAll(orphan, 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(orphan, "staged.bin"), []byte("staged, never committed"), 0o640); err != nil {
		t.Fatal(err)
	}
	// Everything was staged before this (second) start.
	old := time.Now().Add(-time.Hour)
	entries, _ := os.ReadDir(incoming)
	for _, e := range entries {
		os.Chtimes(filepath.Join(incoming, e.Name()), old, old)
	}
	if len(entries) != 4 {
		t.Fatalf("%d incoming dirs before restart, want 3 submissions + 1 orphan", len(entries))
	}

	node := start()
	p = startPipelineIn(t, dir, conf)
	ctx := testCtx(t)
	got := node.waitFor(ctx, 3)
	p.waitUntil(ctx, "orphan removal", func() bool { return p.Stats().Get("runtime", "orphan_dirs_removed") == 1 })
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphan dir still there: %v", err)
	}
	want := map[string]bool{}
	for _, s := range subs {
		want[s.UUID] = true
	}
	for _, r := range got {
		if !want[r.SubmissionUUID] {
			t.Errorf("unexpected submission %s", r.SubmissionUUID)
		}
		if len(r.Files) != 1 || r.Files[0].Size == 0 {
			t.Errorf("submission %s arrived with files %+v", r.SubmissionUUID, r.Files)
		}
	}
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
}
