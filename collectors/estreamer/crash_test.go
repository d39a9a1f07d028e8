package estreamer

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire"
	"github.com/ace-collector/ace-collector/collectors/estreamer/wire/wiretest"
	"github.com/ace-collector/ace-collector/persistence"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// killSink passes the first `after` submissions to the runtime, then
// "kills the process": it cancels the collector's context and stores
// nothing more, as a SIGKILL in the middle of a bundle would.
type killSink struct {
	next   collector.Sink
	after  int
	kill   context.CancelFunc
	mu     sync.Mutex
	passed int
}

func (k *killSink) Submit(ctx context.Context, sub *collector.Submission) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.passed >= k.after {
		k.kill()
		return errors.New("killed")
	}
	k.passed++
	return k.next.Submit(ctx, sub)
}

// TestCrashMidBundleResumesExactly (issue 16, item 18): the bookmark and
// its seen-set are written once per bundle, each event is stored at once;
// a crash in the middle of a bundle used to leave the stored events
// outside the bookmark, and the restarted collector stored them a second
// time (764 of a 3,000-event bundle on an FMC). Here the real runtime and
// store (SQLite, and MySQL/MariaDB when $ACE_TEST_MYSQL_DSN is set) run
// the collector; it is killed after 120 of 200 events, during the second
// bundle, and a new collector on the same store state resumes: every
// event is stored exactly once.
func TestCrashMidBundleResumesExactly(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		crashMidBundle(t, persistence.Config{Path: filepath.Join(t.TempDir(), "q.db")})
	})
	t.Run("mysql", func(t *testing.T) {
		crashMidBundle(t, persistence.Config{Driver: "mysql", DSN: mysqltest.NewDatabase(t)})
	})
}

func crashMidBundle(t *testing.T, storeConfig persistence.Config) {
	const total, perSecond, firstBundle, killAt = 200, 20, 50, 120
	var events []wiretest.Item
	for i := 0; i < total; i++ {
		ts := uint32(t0 + i/perSecond)
		events = append(events, intrusion(uint32(1000+i), ts, "10.0.0.1").Record(85, ts))
	}
	// The server sends, from the requested second on (inclusive, as an
	// FMC does), the events in two bundles split where they first were.
	pki := newPKI(t)
	requests := make(chan uint32, 4)
	finished := make(chan struct{}, 4)
	fmc := startFMC(t, pki.serverConfig(), func(n int, c *fmcConn) error {
		req, _, err := c.handshake(wiretest.StreamingInfoMessage(6667))
		if err != nil {
			return err
		}
		requests <- req.InitialTimestamp
		var b1, b2 []wiretest.Item
		for i, ev := range events {
			switch {
			case ev.ArchiveTS < req.InitialTimestamp:
			case i < firstBundle:
				b1 = append(b1, ev)
			default:
				b2 = append(b2, ev)
			}
		}
		for seq, b := range [][]wiretest.Item{b1, b2} {
			if len(b) == 0 {
				continue
			}
			if err := c.send(wiretest.BundleMessage(1, uint32(seq+1), b...)); err != nil {
				return err
			}
			if err := c.expectNull(); err != nil {
				return c.waitClosed() // the killed collector
			}
		}
		if err := c.send(wiretest.NullMessage()); err != nil {
			return err
		}
		if err := c.expectNull(); err != nil {
			return err
		}
		finished <- struct{}{}
		return c.waitClosed()
	})

	dir := t.TempDir()
	ctx := context.Background()
	store, err := persistence.Open(ctx, storeConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	stats := collector.NewStats()
	newRuntime := func() *collector.Runtime {
		rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: store,
			IncomingDir: filepath.Join(dir, "incoming"), Groups: []collector.GroupTarget{{Name: "g", Coverage: 100}},
			Stats: stats, Global: collector.Global{Hostname: "test-host"}})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}
	// run starts a collector; stop(true) cancels it, stop(false) waits
	// until something else (the kill) ended it.
	run := func(sink func(cancel context.CancelFunc) collector.Sink) (stop func(cancel bool)) {
		c := newTestCollector(t, pki, fmc.port(), "start = oldest", "packet_data = no")
		env := collectortest.Env(t, "fmc", nil, store.State("fmc"))
		env.Stats = stats
		rctx, cancel := context.WithCancel(ctx)
		env.Sink = sink(cancel)
		done := make(chan error, 1)
		go func() { done <- c.Run(rctx, env) }()
		return func(stop bool) {
			if stop {
				cancel()
			}
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}

	// First life: killed after killAt stored events.
	stop := run(func(cancel context.CancelFunc) collector.Sink {
		return &killSink{next: newRuntime().Sink("fmc", Kind, nil), after: killAt, kill: cancel}
	})
	stop(false) // returns once the kill ended Run
	if n, _ := store.Backlog(ctx); n != killAt {
		t.Fatalf("stored %d before the kill, want %d", n, killAt)
	}
	v, ok, _ := store.State("fmc").Get(ctx, bookmarkKey)
	if !ok {
		t.Fatal("no bookmark after the first bundle")
	}
	t.Logf("bookmark at the kill: %s", v)

	// Second life: same store, a new runtime and collector.
	stop = run(func(context.CancelFunc) collector.Sink { return newRuntime().Sink("fmc", Kind, nil) })
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	select {
	case <-finished:
	case <-wctx.Done():
		t.Fatal("the resumed session did not finish")
	}
	stop(true)
	if n, _ := store.Backlog(ctx); n != total {
		t.Errorf("stored %d events, want each of the %d exactly once", n, total)
	}
	<-requests
	resumedFrom := <-requests
	var resent int64
	for _, ev := range events[:killAt] {
		if ev.ArchiveTS >= resumedFrom {
			resent++
		}
	}
	if resumedFrom == wire.TimestampOldest || resent == 0 {
		t.Fatalf("resumed from %d: nothing stored was re-sent, the test proves nothing", resumedFrom)
	}
	// Re-sent events already stored are dropped, by the bookmark's
	// seen-set (the first bundle's last second) or by the store.
	if got := stats.Get("fmc", "dropped_duplicate"); got != resent {
		t.Errorf("dropped_duplicate %d, want %d (re-sent events that were stored)", got, resent)
	}
}
