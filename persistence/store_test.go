package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// backend opens a fresh store for a test. The contract tests below run
// against every backend returned by testBackends.
type backend struct {
	name string
	open func(t *testing.T, now func() time.Time) *Store
}

var (
	backendsMu    sync.Mutex
	extraBackends []backend // registered by other test files (e.g. MySQL)
)

func testBackends() []backend {
	sqlite := backend{name: "sqlite", open: func(t *testing.T, now func() time.Time) *Store {
		t.Helper()
		s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db"), Now: now})
		if err != nil {
			t.Fatalf("open sqlite store: %v", err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}}
	backendsMu.Lock()
	defer backendsMu.Unlock()
	return append([]backend{sqlite}, extraBackends...)
}

func forEachBackend(t *testing.T, fn func(t *testing.T, open func(now func() time.Time) *Store)) {
	for _, b := range testBackends() {
		t.Run(b.name, func(t *testing.T) {
			fn(t, func(now func() time.Time) *Store { return b.open(t, now) })
		})
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.UnixMilli(1_700_000_000_000)} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// target is a group a test submission is distributed to.
func target(name string, coverage int) collector.GroupTarget {
	return collector.GroupTarget{Name: name, Coverage: coverage}
}

func work(i int, groups ...collector.GroupTarget) collector.QueuedWork {
	return collector.QueuedWork{
		UUID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Type:    "test",
		Mode:    "analysis",
		Payload: []byte(fmt.Sprintf(`{"n":%d}`, i)),
		Groups:  groups,
	}
}

// mustEnqueue enqueues w and reports whether it was a duplicate.
func mustEnqueue(t *testing.T, s *Store, w collector.QueuedWork) bool {
	t.Helper()
	dup, _, err := s.Enqueue(context.Background(), w)
	if err != nil {
		t.Fatalf("enqueue %s: %v", w.UUID, err)
	}
	return dup
}

func TestCoverageCounter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		ctx := context.Background()
		for i := 1; i <= 10; i++ {
			mustEnqueue(t, s, work(i, target("all", 100), target("half", 50), target("tenth", 10)))
		}
		want := map[string]int64{"all": 10, "half": 5, "tenth": 1}
		for g, n := range want {
			items, err := s.Claim(ctx, g, "o1", 100)
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(items)) != n {
				t.Errorf("group %s: %d items to deliver, want %d", g, len(items), n)
			}
		}
		// ACE's order: coverage 50 sends items 2,4,6,8,10; 10 sends item 10.
		items, _ := s.Claim(ctx, "tenth", "o2", 10)
		if len(items) != 0 {
			t.Errorf("second claim returned %d items", len(items))
		}
	})
}

func TestClaimFinishCleanup(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		clk := newClock()
		s := open(clk.Now)
		ctx := context.Background()
		for i := 1; i <= 5; i++ {
			mustEnqueue(t, s, work(i, target("a", 100), target("b", 100)))
		}
		a, err := s.Claim(ctx, "a", "inst/a/0", 3)
		if err != nil || len(a) != 3 {
			t.Fatalf("claim a: %d items, %v", len(a), err)
		}
		if string(a[0].Payload) != `{"n":1}` {
			t.Errorf("first claimed payload %s, want oldest", a[0].Payload)
		}
		// Another owner cannot claim the same rows.
		a2, _ := s.Claim(ctx, "a", "inst/a/1", 10)
		if len(a2) != 2 {
			t.Fatalf("second owner claimed %d, want the 2 unclaimed", len(a2))
		}
		res := []Result{
			{WorkID: a[0].WorkID, Outcome: Completed},
			{WorkID: a[1].WorkID, Outcome: Retry, Error: "503", NextAttempt: clk.Now().Add(time.Minute)},
			{WorkID: a[2].WorkID, Outcome: Failed, Error: "400 bad"},
		}
		if err := s.Finish(ctx, "a", "inst/a/0", res); err != nil {
			t.Fatal(err)
		}
		// A finish by a non-owner is ignored.
		if err := s.Finish(ctx, "a", "intruder", []Result{{WorkID: a2[0].WorkID, Outcome: Completed}}); err != nil {
			t.Fatal(err)
		}
		if fin, _ := s.Finished(ctx, 10); len(fin) != 0 {
			t.Fatalf("finished before group b is done: %v", fin)
		}
		// The retried item is not due yet.
		if again, _ := s.Claim(ctx, "a", "inst/a/0", 10); len(again) != 0 {
			t.Fatalf("claimed %d items during backoff", len(again))
		}
		clk.Advance(2 * time.Minute)
		again, _ := s.Claim(ctx, "a", "inst/a/0", 10)
		if len(again) != 1 || again[0].WorkID != a[1].WorkID || again[0].Attempts != 1 {
			t.Fatalf("after backoff: %+v", again)
		}
		b, _ := s.Claim(ctx, "b", "inst/b/0", 10)
		var rb []Result
		for _, it := range b {
			rb = append(rb, Result{WorkID: it.WorkID, Outcome: Completed})
		}
		var cleaned int
		s.onCleaned = func(n int) { cleaned += n } // called on the writer, which Finish waits for
		if err := s.Finish(ctx, "b", "inst/b/0", rb); err != nil {
			t.Fatal(err)
		}
		fin, err := s.Finished(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		// Items 1 and 3 are terminal in both groups. Having no files, the
		// embedded store deleted them as group b's outcomes were recorded;
		// MySQL lists them for the cleanup loop.
		want := map[string][2]int{"sqlite": {2, 0}, "mysql": {0, 2}}[s.d.name]
		if cleaned != want[0] || len(fin) != want[1] {
			t.Fatalf("deleted at once %d and listed as finished %+v, want %d and %d", cleaned, fin, want[0], want[1])
		}
		var ids []int64
		for _, f := range fin {
			ids = append(ids, f.ID)
		}
		if err := s.Delete(ctx, ids); err != nil {
			t.Fatal(err)
		}
		if n, _ := s.Backlog(ctx); n != 3 {
			t.Errorf("backlog %d, want 3", n)
		}
		errs, _ := s.Errors(ctx, 10)
		if len(errs) != 0 {
			t.Errorf("errors listed after delete: %+v", errs)
		}
	})
}

func TestStaleAndOwnerRelease(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		clk := newClock()
		s := open(clk.Now)
		ctx := context.Background()
		for i := 1; i <= 4; i++ {
			mustEnqueue(t, s, work(i, target("g", 100)))
		}
		s.Claim(ctx, "g", "me/g/0", 2)
		s.Claim(ctx, "g", "other/g/0", 2)
		n, err := s.ReleaseOwners(ctx, "me/")
		if err != nil || n != 2 {
			t.Fatalf("released %d of mine, %v", n, err)
		}
		clk.Advance(time.Minute)
		if err := s.Touch(ctx, "other/g/0"); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Minute)
		if n, _ := s.ReleaseStale(ctx, 90*time.Second); n != 0 {
			t.Fatalf("released %d fresh claims", n)
		}
		clk.Advance(time.Minute)
		if n, _ := s.ReleaseStale(ctx, 90*time.Second); n != 2 {
			t.Fatalf("released %d stale claims, want 2", n)
		}
	})
}

func TestParkRetryAndFailReady(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		ctx := context.Background()
		mustEnqueue(t, s, work(1, target("g", 100)))
		mustEnqueue(t, s, work(2, target("g", 100)))
		it, _ := s.Claim(ctx, "g", "o", 1)
		s.Finish(ctx, "g", "o", []Result{{WorkID: it[0].WorkID, Outcome: Park, Error: "HTTP 400: bad observable"}})
		if fin, _ := s.Finished(ctx, 10); len(fin) != 0 {
			t.Fatalf("a parked item must be kept: %+v", fin)
		}
		errs, _ := s.Errors(ctx, 10)
		if len(errs) != 1 || errs[0].LastError != "HTTP 400: bad observable" || !errs[0].Parked {
			t.Fatalf("errors = %+v", errs)
		}
		if n, _ := s.RetryErrors(ctx, "g"); n != 1 {
			t.Fatalf("retried %d", n)
		}
		n, err := s.FailReady(ctx, "g", "no node")
		if err != nil || n != 2 {
			t.Fatalf("FailReady = %d, %v", n, err)
		}
		if fin, _ := s.Finished(ctx, 10); len(fin) != 2 {
			t.Fatalf("after FailReady finished = %+v", fin)
		}
	})
}

func TestDedupInEnqueue(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		w1 := work(1, target("g", 100))
		w1.DedupSource, w1.DedupKey = "mail", "msg-1"
		w2 := work(2, target("g", 100))
		w2.DedupSource, w2.DedupKey = "mail", "msg-1"
		if mustEnqueue(t, s, w1) {
			t.Fatal("first is a duplicate")
		}
		if !mustEnqueue(t, s, w2) {
			t.Fatal("second is not a duplicate")
		}
		if n, _ := s.Backlog(context.Background()); n != 1 {
			t.Fatalf("backlog %d", n)
		}
	})
}

func TestKeysExpiry(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		clk := newClock()
		s := open(clk.Now)
		ctx := context.Background()
		st := s.State("eve")
		st.Put(ctx, "offset", []byte("42"))
		st.PutVolatile(ctx, "old", nil)
		st.PutVolatile(ctx, "touched", []byte("v"))
		clk.Advance(3 * time.Hour)
		st.PutVolatile(ctx, "touched", nil) // refresh keeps the value
		clk.Advance(2 * time.Hour)
		n, err := s.ExpireKeys(ctx, 24*time.Hour, 4*time.Hour)
		if err != nil || n != 1 {
			t.Fatalf("expired %d, %v", n, err)
		}
		if v, ok, _ := st.Get(ctx, "touched"); !ok || string(v) != "v" {
			t.Fatalf("touched = %q %v", v, ok)
		}
		clk.Advance(20 * time.Hour)
		st.PutVolatile(ctx, "touched", nil)
		if n, _ := s.ExpireKeys(ctx, 24*time.Hour, 4*time.Hour); n != 1 {
			t.Fatalf("created-age expiry removed %d", n)
		}
		if v, ok, _ := st.Get(ctx, "offset"); !ok || string(v) != "42" {
			t.Fatalf("permanent key lost: %q %v", v, ok)
		}
		st.Put(ctx, "offset", []byte("43"))
		if v, _, _ := st.Get(ctx, "offset"); string(v) != "43" {
			t.Fatalf("permanent update = %q", v)
		}
		perm := false
		keys, _ := s.Keys(ctx, KeyFilter{Source: "eve", Permanent: &perm}, 10)
		if len(keys) != 0 {
			t.Fatalf("volatile keys left: %+v", keys)
		}
		n, _ = s.ClearKeys(ctx, KeyFilter{Source: "eve"}, nil, true)
		if n != 1 {
			t.Fatalf("dry-run clear counted %d", n)
		}
	})
}

func TestGroupCommitConcurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		var wg sync.WaitGroup
		errs := make(chan error, 400)
		for i := 0; i < 400; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				_, _, err := s.Enqueue(context.Background(), work(i, target("g", 30)))
				errs <- err
			}(i)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		items, _ := s.Claim(context.Background(), "g", "o", 1000)
		if len(items) != 120 {
			t.Fatalf("coverage 30 over 400 concurrent enqueues delivered %d, want 120", len(items))
		}
	})
}
