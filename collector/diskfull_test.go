package collector_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	_ "github.com/ace-collector/ace-collector/collectors/filedrop"
	_ "github.com/ace-collector/ace-collector/collectors/smtp"
	"github.com/ace-collector/ace-collector/persistence"
)

// fullQueue is the real store with a switch that makes Enqueue fail the
// way a write on a full disk does.
type fullQueue struct {
	*persistence.Store
	full    atomic.Bool
	refused atomic.Int64
}

func (q *fullQueue) Enqueue(ctx context.Context, w collector.QueuedWork) (bool, []string, error) {
	if q.full.Load() {
		q.refused.Add(1)
		return false, nil, fmt.Errorf("persistence: enqueue of 1 submissions: commit: %w",
			&os.PathError{Op: "write", Path: "collection.db-wal", Err: syscall.ENOSPC})
	}
	return q.Store.Enqueue(ctx, w)
}

type rig struct {
	t        *testing.T
	store    *persistence.Store
	q        *fullQueue
	rt       *collector.Runtime
	stats    *collector.Stats
	incoming string // the runtime's incoming directory
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := &rig{t: t, store: store, q: &fullQueue{Store: store}, stats: collector.NewStats(),
		incoming: filepath.Join(dir, "incoming")}
	r.rt, err = collector.NewRuntime(collector.RuntimeOptions{
		Queue: r.q, IncomingDir: r.incoming, Stats: r.stats,
		Groups: []collector.GroupTarget{{Name: "main", Coverage: 100}}, Global: collector.Global{Hostname: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// noStagedFiles fails when the runtime's incoming directory holds anything:
// a refused submission must not leave its staged copies behind.
func (r *rig) noStagedFiles() {
	r.t.Helper()
	ents, err := os.ReadDir(r.incoming)
	if err != nil {
		r.t.Fatalf("reading the incoming directory: %v", err)
	}
	if len(ents) != 0 {
		names := make([]string, len(ents))
		for i, e := range ents {
			names[i] = e.Name()
		}
		r.t.Fatalf("staged files left behind in %s: %v", r.incoming, names)
	}
}

func (r *rig) backlog() int64 {
	n, err := r.store.Backlog(context.Background())
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// run builds a collector of kind from keys and runs it under the runtime.
func (r *rig) run(kind, name, keys string) collector.Collector {
	r.t.Helper()
	f, err := ini.Load([]byte("[collector_" + name + "]\n" + keys))
	if err != nil {
		r.t.Fatal(err)
	}
	var p collector.Problems
	sec := collector.NewSection(f.Section("collector_"+name), &p)
	k, ok := collector.Lookup(kind)
	if !ok {
		r.t.Fatalf("no collector kind %s", kind)
	}
	c, err := k.New(sec, collector.Global{Hostname: "t", BaseDir: r.t.TempDir()})
	if err != nil {
		r.t.Fatal(err)
	}
	sec.Done()
	if err := p.Err(); err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.rt.Run(ctx, []collector.Instance{{Name: name, Kind: kind, Collector: c}})
	}()
	r.t.Cleanup(func() { cancel(); wg.Wait() })
	return c
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

func checkFullError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("Submit on a full disk returned nil")
	}
	if errors.Is(err, collector.ErrInvalid) {
		t.Fatalf("a full disk reported as an invalid submission: %v", err)
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "store full: no space left on device") {
		t.Fatalf("error does not name the full disk: %v", err)
	}
}

func fileSubmission(t *testing.T, dir string, i, size int) (*collector.Submission, string) {
	t.Helper()
	src := filepath.Join(dir, fmt.Sprintf("sample-%d.bin", i))
	if err := os.WriteFile(src, bytes.Repeat([]byte{byte(i)}, size), 0o640); err != nil {
		t.Fatal(err)
	}
	s := collector.NewSubmission(fmt.Sprintf("disk full test %d", i))
	s.Files = []collector.File{{Path: src, Name: "sample.bin", DeleteSource: true}}
	return s, src
}

func TestSubmitNamesDiskFull(t *testing.T) {
	r := newRig(t, t.TempDir())
	sink := r.rt.Sink("src", "test", nil)
	sub, src := fileSubmission(t, t.TempDir(), 1, 1000)
	r.q.full.Store(true)
	checkFullError(t, sink.Submit(context.Background(), sub))
	if _, err := os.Stat(src); err != nil {
		t.Fatalf("the source file was not kept: %v", err)
	}
	r.noStagedFiles()
	if r.stats.Get("src", "store_full") != 1 || r.stats.Get("src", "store_failed") != 1 {
		t.Fatalf("refusal not counted: store_full %d, store_failed %d", r.stats.Get("src", "store_full"), r.stats.Get("src", "store_failed"))
	}
	r.q.full.Store(false)
	if err := sink.Submit(context.Background(), sub); err != nil {
		t.Fatalf("Submit once space returned: %v", err)
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Fatalf("source not removed after the successful Submit: %v", err)
	}
	if r.backlog() != 1 {
		t.Fatalf("backlog %d, want 1", r.backlog())
	}
}

// A real 2 MiB tmpfs holds the store and the incoming dir: submissions are
// refused with the full-disk error once it is full, nothing is lost, and
// they are accepted again once it grows.
func TestSubmitOnRealFullFilesystem(t *testing.T) {
	mnt := collectortest.MountTmpfs(t, "2m")
	r := newRig(t, mnt)
	sink := r.rt.Sink("src", "test", nil)
	srcDir := t.TempDir() // on another filesystem: staging copies
	var stored int64
	var failed *collector.Submission
	var failedSrc string
	for i := 0; i < 1000 && failed == nil; i++ {
		sub, src := fileSubmission(t, srcDir, i, 16<<10)
		if err := sink.Submit(context.Background(), sub); err != nil {
			checkFullError(t, err)
			failed, failedSrc = sub, src
			t.Logf("full after %d submissions: %v", stored, err)
			break
		}
		stored++
	}
	if failed == nil {
		t.Fatal("a 2 MiB filesystem never filled up")
	}
	if _, err := os.Stat(failedSrc); err != nil {
		t.Fatalf("the refused submission's source was not kept: %v", err)
	}
	// Fill what is left, then metadata-only submissions (no files) fail
	// in the database itself (SQLITE_FULL), with the same error.
	filler, err := os.Create(filepath.Join(mnt, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := filler.Write(make([]byte, 4096)); err != nil {
			break
		}
	}
	filler.Close()
	dbFull := false
	for i := 0; i < 5000 && !dbFull; i++ {
		err := sink.Submit(context.Background(), collector.NewSubmission(fmt.Sprintf("small %d", i)))
		if err != nil {
			checkFullError(t, err)
			t.Logf("database full after %d more submissions: %v", i, err)
			dbFull = true
			break
		}
		stored++
	}
	if !dbFull {
		t.Fatal("the database never reported the full disk")
	}
	os.Remove(filepath.Join(mnt, "filler"))
	if r.stats.Get("src", "store_full") < 1 {
		t.Fatal("refusals not counted as store_full")
	}
	if b := r.backlog(); b != stored {
		t.Fatalf("backlog %d, want the %d accepted", b, stored)
	}
	if out, err := exec.Command("mount", "-o", "remount,size=16m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("growing the tmpfs: %v %s", err, out)
	}
	if err := sink.Submit(context.Background(), failed); err != nil {
		t.Fatalf("Submit once space returned: %v", err)
	}
	if b := r.backlog(); b != stored+1 {
		t.Fatalf("backlog %d, want %d", b, stored+1)
	}
	var check string
	if err := r.store.DB().Get(&check, "PRAGMA quick_check"); err != nil || check != "ok" {
		t.Fatalf("store after the full disk: %q %v", check, err)
	}
}

// filedrop keeps the file while the disk is full and submits it once
// space returns.
func TestFiledropKeepsFilesWhileDiskFull(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.q.full.Store(true)
	drop := t.TempDir()
	r.run("filedrop", "drop", "directory = "+drop+"\nrescan_interval = 50ms\nretry_backoff = 5ms\nretry_max_backoff = 20ms\n")
	p := filepath.Join(drop, "sample.exe")
	if err := os.WriteFile(p+".tmp", []byte("MZ payload"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(p+".tmp", p); err != nil {
		t.Fatal(err)
	}
	// Wait on the last counter of each refusal: the queue refuses, the
	// runtime counts store_full and returns, and only then does filedrop
	// count submit_failed. Waiting on the queue's count instead raced the
	// runtime's counters.
	eventually(t, "refusals", func() bool { return r.stats.Get("drop", "submit_failed") >= 3 })
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("filedrop did not keep the file while the disk was full: %v", err)
	}
	if n := r.q.refused.Load(); n < 3 {
		t.Fatalf("filedrop counted 3 failed submissions but the queue refused %d", n)
	}
	if r.stats.Get("drop", "store_full") < 3 {
		t.Fatalf("refusals not counted: store_full %d, submit_failed %d",
			r.stats.Get("drop", "store_full"), r.stats.Get("drop", "submit_failed"))
	}
	r.q.full.Store(false)
	eventually(t, "the file stored", func() bool { return r.backlog() == 1 })
	eventually(t, "the file disposed", func() bool { _, err := os.Stat(p); return os.IsNotExist(err) })
}

// The SMTP collector answers 451 (try again later) while the disk is full,
// and 250 once space returns.
func TestSMTPAnswers451WhileDiskFull(t *testing.T) {
	r := newRig(t, t.TempDir())
	r.q.full.Store(true)
	c := r.run("smtp", "smtp_in", "listen = 127.0.0.1:0\nspool_dir = "+t.TempDir()+"\n")
	srv, ok := c.(interface {
		Ready() <-chan struct{}
		Addr() net.Addr
	})
	if !ok {
		t.Fatalf("smtp collector %T does not expose its address", c)
	}
	select {
	case <-srv.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("smtp listener not ready")
	}
	cl, err := gosmtp.Dial(srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	msg := "From: a@x.example\r\nTo: b@y.example\r\nSubject: disk full\r\nMessage-ID: <1@x.example>\r\n\r\nbody\r\n"
	err = cl.SendMail("a@x.example", []string{"b@y.example"}, strings.NewReader(msg))
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 451 {
		t.Fatalf("want 451 while the disk is full, got %v", err)
	}
	if r.stats.Get("smtp_in", "store_full") != 1 || r.stats.Get("smtp_in", "store_unavailable") != 1 {
		t.Fatalf("refusal not counted: store_full %d, store_unavailable %d",
			r.stats.Get("smtp_in", "store_full"), r.stats.Get("smtp_in", "store_unavailable"))
	}
	if r.backlog() != 0 {
		t.Fatal("a refused message was stored")
	}
	r.q.full.Store(false)
	if err := cl.SendMail("a@x.example", []string{"b@y.example"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("once space returned: %v", err)
	}
	if r.backlog() != 1 {
		t.Fatalf("backlog %d, want 1", r.backlog())
	}
}

// diskFigures describes where the space of a small volume went.
func diskFigures(t *testing.T, mnt string) string {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(mnt, &st); err != nil {
		t.Fatal(err)
	}
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(mnt, name))
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	var incoming int64
	filepath.Walk(filepath.Join(mnt, "incoming"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			incoming += fi.Size()
		}
		return nil
	})
	return fmt.Sprintf("free %d KiB of %d KiB; db %d KiB, wal %d KiB, reserve %d KiB, incoming %d KiB",
		int64(st.Bavail)*st.Bsize>>10, int64(st.Blocks)*st.Bsize>>10,
		size("q.db")>>10, size("q.db-wal")>>10, size("q.db.reserve")>>10, incoming>>10)
}

// deliverAll plays the delivery side: every queued item of group main is
// claimed and completed in batches of 32 (a group's default batch_size),
// as a group manager does after successful POSTs.
func (r *rig) deliverAll() error {
	ctx := context.Background()
	for {
		items, err := r.store.Claim(ctx, "main", "test-deliverer", 32)
		if err != nil || len(items) == 0 {
			return err
		}
		res := make([]persistence.Result, len(items))
		for i, it := range items {
			res[i] = persistence.Result{WorkID: it.WorkID, Outcome: persistence.Completed}
		}
		if err := r.store.Finish(ctx, "main", "test-deliverer", res); err != nil {
			return err
		}
	}
}

// fillUntilFull submits alternately (withFiles) a 16 KiB file and a
// metadata-only submission with 2 KiB of details until the store refuses
// one for a full disk, then metadata-only submissions until the database
// itself is full too, and returns how many were stored.
func (r *rig) fillUntilFull(srcDir string, round int, withFiles bool) int64 {
	r.t.Helper()
	sink := r.rt.Sink("src", "test", nil)
	details := []byte(`{"pad":"` + strings.Repeat("x", 2048) + `"}`)
	filesFull := !withFiles
	var stored int64
	for i := 0; i < 100000; i++ {
		var sub *collector.Submission
		if i%2 == 0 && !filesFull {
			sub, _ = fileSubmission(r.t, srcDir, round*100000+i, 16<<10)
		} else {
			sub = collector.NewSubmission(fmt.Sprintf("small %d/%d", round, i))
			sub.Details = details
		}
		err := sink.Submit(context.Background(), sub)
		switch {
		case err == nil:
			stored++
		case len(sub.Files) > 0:
			checkFullError(r.t, err)
			filesFull = true
		default:
			checkFullError(r.t, err)
			return stored
		}
	}
	r.t.Fatal("the volume never filled up")
	return 0
}

// A 4 MiB volume that filled up recovers once the backlog is delivered,
// without being enlarged: cleanup runs, the WAL shrinks, and new
// submissions are accepted again, also after restarts in between.
func TestSmallDiskRecoversAfterFull(t *testing.T) {
	t.Run("files and metadata", func(t *testing.T) { testSmallDiskRecovers(t, true) })
	t.Run("metadata only", func(t *testing.T) { testSmallDiskRecovers(t, false) })
}

func testSmallDiskRecovers(t *testing.T, withFiles bool) {
	mnt := collectortest.MountTmpfs(t, "4m")
	srcDir := t.TempDir() // another filesystem: staging copies
	r := newRig(t, mnt)
	ctx := context.Background()
	for round := 0; round < 3; round++ {
		stored := r.backlog() // what the previous round left
		stored += r.fillUntilFull(srcDir, round, withFiles)
		t.Logf("round %d: full with %d queued: %s", round, stored, diskFigures(t, mnt))
		// Restart while full, and fill whatever the restart freed.
		r.store.Close()
		r = newRig(t, mnt)
		t.Logf("round %d: restarted: %s", round, diskFigures(t, mnt))
		more := r.fillUntilFull(srcDir, round+10, withFiles)
		stored += more
		t.Logf("round %d: full again after %d more: %s", round, more, diskFigures(t, mnt))
		if b := r.backlog(); b != stored {
			t.Fatalf("round %d: backlog %d, want the %d accepted", round, b, stored)
		}
		if err := r.deliverAll(); err != nil {
			t.Fatalf("round %d: delivering the backlog on the full disk: %v (%s)", round, err, diskFigures(t, mnt))
		}
		for {
			n, err := r.rt.CleanupOnce(ctx)
			if err != nil {
				t.Fatalf("round %d: cleanup on the full disk: %v (%s)", round, err, diskFigures(t, mnt))
			}
			if n == 0 {
				break
			}
		}
		if b := r.backlog(); b != 0 {
			t.Fatalf("round %d: backlog %d after cleanup", round, b)
		}
		r.noStagedFiles()
		t.Logf("round %d: after delivery and cleanup: %s", round, diskFigures(t, mnt))
		if r.store.Full() {
			t.Fatalf("round %d: store still full after cleanup (%s)", round, diskFigures(t, mnt))
		}
		sub, _ := fileSubmission(t, srcDir, 1000000+round, 16<<10)
		if err := r.rt.Sink("src", "test", nil).Submit(ctx, sub); err != nil {
			t.Fatalf("round %d: submission after cleanup: %v (%s)", round, err, diskFigures(t, mnt))
		}
		r.store.Close()
		r = newRig(t, mnt)
		if err := r.rt.Sink("src", "test", nil).Submit(ctx, collector.NewSubmission("after a restart")); err != nil {
			t.Fatalf("round %d: submission after cleanup and a restart: %v (%s)", round, err, diskFigures(t, mnt))
		}
		if b := r.backlog(); b != 2 {
			t.Fatalf("round %d: backlog %d, want 2", round, b)
		}
	}
	var check string
	if err := r.store.DB().Get(&check, "PRAGMA quick_check"); err != nil || check != "ok" {
		t.Fatalf("store after three full disks: %q %v", check, err)
	}
}
