package persistence

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"time"
)

// Coverage 30 over 10,000 submissions delivers exactly 3,000, and a restart
// changes no decision: the counter is stored with the queue. Every
// decision, in the order the store took them, must be the running
// counter's, so a store that reset the counter on open (to 0, 90 or
// anything but its value) is caught even where the total would hide it.
// The restart falls 5,001 submissions in, where the counter is at 30.
func TestCoverage30Over10000WithRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	ctx := context.Background()
	enqueue := func(from, to int) {
		s, err := Open(ctx, Config{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var wg sync.WaitGroup
		errs := make(chan error, to-from)
		for p := 0; p < 8; p++ {
			wg.Add(1)
			go func(p int) {
				defer wg.Done()
				for i := from + p; i < to; i += 8 {
					if _, _, err := s.Enqueue(ctx, work(i, target("sampled", 30))); err != nil {
						errs <- err
						return
					}
				}
			}(p)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	enqueue(0, 5001)
	enqueue(5001, 10000) // a new process: the counter continues
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts, err := s.Counts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var send, skip int64
	for _, c := range counts {
		if c.Skipped {
			skip += c.Count
		} else if c.Status == StatusReady {
			send += c.Count
		}
	}
	if send != 3000 || send+skip != 10000 {
		t.Fatalf("coverage 30%% over 10000: %d to deliver, %d skipped", send, skip)
	}
	var skipped []bool
	if err := s.db.SelectContext(ctx, &skipped, `SELECT d.skipped FROM incoming_workload w
		JOIN work_distribution d ON d.work_id = w.id ORDER BY w.id`); err != nil {
		t.Fatal(err)
	}
	counter := 0
	for i, sk := range skipped {
		counter += 30
		want := counter < 100
		if !want {
			counter -= 100
		}
		if sk != want {
			t.Fatalf("submission %d (in store order): skipped = %v, the running counter says %v", i, sk, want)
		}
	}
	t.Logf("coverage 30%% over 10,000 with a restart: %d delivered, %d skipped", send, skip)
}

// Enqueueing a uuid that is already queued (a retry after a commit whose
// success was not reported) succeeds without a second copy.
func TestEnqueueSameUUIDIsIdempotent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		w := work(1, target("g", 100))
		mustEnqueue(t, s, w)
		mustEnqueue(t, s, work(1, target("g", 100)))
		if n, _ := s.Backlog(context.Background()); n != 1 {
			t.Fatalf("backlog %d, want 1", n)
		}
		items, _ := s.Claim(context.Background(), "g", "o", 10)
		if len(items) != 1 {
			t.Fatalf("claimed %d", len(items))
		}
	})
}

// Enqueue after Close fails at once with ErrClosed instead of hanging.
func TestEnqueueAfterClose(t *testing.T) {
	for i := 0; i < 50; i++ {
		s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db")})
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		if _, _, err := s.Enqueue(context.Background(), work(i, target("g", 100))); err != ErrClosed {
			t.Fatalf("enqueue after close: %v", err)
		}
	}
}

// An enqueue on the embedded store commits with synchronous=NORMAL and
// returns only after an fsync of the WAL that started after its commit
// (walSyncer): the record is committed while the fsync is held, and
// Enqueue returns after the fsync, not before.
func TestSQLiteEnqueueReturnsAfterWALSync(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	var mu sync.Mutex
	var events []string
	note := func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fsync := s.sync.syncFile
	s.sync.syncFile = func() error { // read by the syncer after the kick Enqueue sends
		once.Do(func() {
			close(entered)
			<-release
		})
		err := fsync()
		note("synced")
		return err
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := s.Enqueue(ctx, work(1, target("g", 100)))
		note("returned")
		done <- err
	}()
	<-entered
	if n, err := s.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("backlog while the fsync is held: %d, %v; want the record committed", n, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := s.db.GetContext(ctx, &mode, "PRAGMA synchronous"); err != nil || mode != 1 {
		t.Fatalf("the writer runs with synchronous=%d (%v), want 1 (NORMAL)", mode, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 2 || events[0] != "synced" || events[1] != "returned" {
		t.Fatalf("events %v, want the WAL synced before Enqueue returned", events)
	}
}
