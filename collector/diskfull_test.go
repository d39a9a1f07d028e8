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
	_ "github.com/ace-collector/ace-collector/collectors/filedrop"
	_ "github.com/ace-collector/ace-collector/collectors/smtp"
	"github.com/ace-collector/ace-collector/persistence"
)

// fullQueue is the real store with a switch that makes Enqueue fail the
// way a write on a full disk does.
type fullQueue struct {
	persistence.CollectorQueue
	full    atomic.Bool
	refused atomic.Int64
}

func (q *fullQueue) Enqueue(ctx context.Context, w collector.QueuedWork) (bool, []string, error) {
	if q.full.Load() {
		q.refused.Add(1)
		return false, nil, fmt.Errorf("persistence: enqueue of 1 submissions: commit: %w",
			&os.PathError{Op: "write", Path: "collection.db-wal", Err: syscall.ENOSPC})
	}
	return q.CollectorQueue.Enqueue(ctx, w)
}

type rig struct {
	t     *testing.T
	store *persistence.Store
	q     *fullQueue
	rt    *collector.Runtime
	stats *collector.Stats
}

func newRig(t *testing.T, dir string) *rig {
	t.Helper()
	store, err := persistence.Open(context.Background(), persistence.Config{Path: filepath.Join(dir, "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	r := &rig{t: t, store: store, q: &fullQueue{CollectorQueue: store.ForCollector()}, stats: collector.NewStats()}
	r.rt, err = collector.NewRuntime(collector.RuntimeOptions{
		Queue: r.q, IncomingDir: filepath.Join(dir, "incoming"), Stats: r.stats,
		Groups: []collector.GroupTarget{{Name: "main", Coverage: 100}}, Global: collector.Global{Hostname: "t"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
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
	if ents, _ := os.ReadDir(filepath.Join(r.t.TempDir(), "incoming")); len(ents) != 0 {
		t.Fatalf("staged files left behind: %v", ents)
	}
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
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", mnt, err, out)
		}
	})
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
	eventually(t, "refusals", func() bool { return r.q.refused.Load() >= 3 })
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("filedrop did not keep the file while the disk was full: %v", err)
	}
	// The counters are added after Enqueue returned: wait for them rather
	// than read them at the moment the third refusal happened.
	eventually(t, "refusals counted as store_full and submit_failed", func() bool {
		return r.stats.Get("drop", "store_full") >= 3 && r.stats.Get("drop", "submit_failed") >= 3
	})
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
