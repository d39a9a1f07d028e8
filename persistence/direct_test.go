package persistence

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// Direct hand-over (direct.go) exists on SQLite only. Enqueue returns
// after the round's handOver, so a handed item is on its lane by then:
// the tests receive without waiting.

func openDirect(t *testing.T) (*Store, *clock) {
	t.Helper()
	clk := newClock()
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db"), Now: clk.Now})
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// directLane registers owner on group, then claims short, as a worker
// finding nothing does, so that new work of group is handed over.
func directLane(t *testing.T, s *Store, group, owner string, n int) *Lane {
	t.Helper()
	l, err := s.Direct(context.Background(), group, owner, n)
	if err != nil || l == nil {
		t.Fatalf("Direct(%s, %s) = %v, %v", group, owner, l, err)
	}
	shortClaim(t, s, group)
	return l
}

// shortClaim claims group's due READY work (fewer than its limit) and
// returns the uuids claimed, in order.
func shortClaim(t *testing.T, s *Store, group string) []string {
	t.Helper()
	items, err := s.Claim(context.Background(), group, "claimer", 100)
	if err != nil || len(items) >= 100 {
		t.Fatalf("claim %s: %d items, %v", group, len(items), err)
	}
	return uuids(items)
}

func uuids(items []Item) []string {
	out := []string{}
	for _, it := range items {
		out = append(out, it.UUID)
	}
	return out
}

func ids(is ...int) []string {
	out := []string{}
	for _, i := range is {
		out = append(out, work(i).UUID)
	}
	return out
}

func recv(t *testing.T, l *Lane) Item {
	t.Helper()
	select {
	case it := <-l.C():
		return it
	default:
		t.Fatal("nothing handed over")
		return Item{}
	}
}

func nothingOn(t *testing.T, l *Lane) {
	t.Helper()
	select {
	case it := <-l.C():
		t.Fatalf("%s handed over", it.UUID)
	default:
	}
}

// distRow is one delivery state; Status "" when there is none.
type distRow struct {
	Status   string `db:"status"`
	Owner    string `db:"owner"`
	LockTime int64  `db:"lock_time"`
	Skipped  bool   `db:"skipped"`
}

func status(t *testing.T, s *Store, uuid, group string) distRow {
	t.Helper()
	var r distRow
	err := s.db.GetContext(context.Background(), &r, `SELECT d.status, COALESCE(d.lock_uuid, '') AS owner,
		COALESCE(d.lock_time, 0) AS lock_time, d.skipped
		FROM work_distribution d JOIN incoming_workload w ON w.id = d.work_id
		JOIN work_distribution_groups g ON g.id = d.group_id WHERE w.uuid = ? AND g.name = ?`, uuid, group)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		t.Fatal(err)
	}
	return r
}

// wantStatus checks the delivery state of work(i) in group.
func wantStatus(t *testing.T, s *Store, i int, group, st, owner string) {
	t.Helper()
	if r := status(t, s, work(i).UUID, group); r.Status != st || r.Owner != owner {
		t.Fatalf("work %d in %s: %s by %q, want %s by %q", i, group, r.Status, r.Owner, st, owner)
	}
}

func TestDirectLaneOnlyWithOneWriter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		for _, n := range []int{4, 0} {
			l, err := s.Direct(context.Background(), "g", "o", n)
			if err != nil || (l != nil) != (s.d.name == "sqlite" && n > 0) {
				t.Fatalf("%s, n=%d: lane %v, %v", s.d.name, n, l, err)
			}
		}
		var nilLane *Lane // safe to use where Direct returned none
		nilLane.Pause()
		nilLane.Resume()
		if nilLane.C() != nil || nilLane.Take(5) != nil {
			t.Fatal("a nil lane yields items")
		}
	})
}

func TestDirectHandOver(t *testing.T) {
	s, clk := openDirect(t)
	ctx := context.Background()
	lane, err := s.Direct(ctx, "g", "inst/g/0", 4)
	if err != nil {
		t.Fatal(err)
	}
	// A new lane waits for a claim to find no more READY work.
	mustEnqueue(t, s, work(1, target("g", 100)))
	nothingOn(t, lane)
	if got := shortClaim(t, s, "g"); !slices.Equal(got, ids(1)) {
		t.Fatalf("claimed %v", got)
	}
	w := work(2, target("g", 100))
	w.Sub = &collector.Submission{UUID: w.UUID, Type: "test"}
	mustEnqueue(t, s, w)
	it := recv(t, lane)
	var id int64
	if err := s.db.GetContext(ctx, &id, "SELECT id FROM incoming_workload WHERE uuid = ?", w.UUID); err != nil {
		t.Fatal(err)
	}
	now := clk.Now().UnixMilli()
	if it.WorkID != id || it.UUID != w.UUID || it.Mode != w.Mode || string(it.Payload) != string(w.Payload) ||
		it.InsertDate != now || it.Sub != w.Sub || it.Attempts != 0 {
		t.Fatalf("handed %+v, want work id %d of %+v inserted at %d", it, id, w, now)
	}
	if r := status(t, s, w.UUID, "g"); r.Status != StatusLocked || r.Owner != "inst/g/0" || r.LockTime != now || r.Skipped {
		t.Fatalf("row %+v, want LOCKED by inst/g/0 at %d", r, now)
	}
	if got := shortClaim(t, s, "g"); len(got) != 0 {
		t.Fatalf("handed item claimed again: %v", got)
	}
}

func TestDirectFinishDeletes(t *testing.T) {
	for _, tc := range []struct {
		name     string
		groups   []string
		hasFiles bool
	}{
		{"last group", []string{"a"}, false},
		{"with files", []string{"a"}, true},
		{"two groups", []string{"a", "b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openDirect(t)
			ctx := context.Background()
			cleaned := 0
			s.onCleaned = func(n int) { cleaned += n } // on the writer, which Finish waits for
			lanes := map[string]*Lane{}
			var targets []collector.GroupTarget
			for _, g := range tc.groups {
				lanes[g] = directLane(t, s, g, "inst/"+g, 2)
				targets = append(targets, target(g, 100))
			}
			w := work(1, targets...)
			w.HasFiles = tc.hasFiles
			mustEnqueue(t, s, w)
			for i, g := range tc.groups {
				it := recv(t, lanes[g])
				if err := s.Finish(ctx, g, "inst/"+g, []Result{{WorkID: it.WorkID, Outcome: Completed}}); err != nil {
					t.Fatal(err)
				}
				gone := i == len(tc.groups)-1 && !tc.hasFiles
				want := [3]int{1, len(tc.groups), 0} // submissions, delivery rows, cleaned
				if gone {
					want = [3]int{0, 0, 1}
				}
				got := [3]int{2: cleaned}
				if err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM incoming_workload),
					(SELECT COUNT(*) FROM work_distribution)`).Scan(&got[0], &got[1]); err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Fatalf("after finishing %s: submissions, delivery rows, cleaned = %v, want %v", g, got, want)
				}
			}
			fin, err := s.Finished(ctx, 10)
			if err != nil {
				t.Fatal(err)
			}
			if tc.hasFiles != (len(fin) == 1 && fin[0].UUID == w.UUID && fin[0].HasFiles) || len(fin) > 1 {
				t.Fatalf("finished %+v", fin)
			}
		})
	}
}

func TestDirectLaneKeepsOrder(t *testing.T) {
	s, _ := openDirect(t)
	lane := directLane(t, s, "g", "o", 2)
	for i := 1; i <= 3; i++ {
		mustEnqueue(t, s, work(i, target("g", 100)))
	}
	wantStatus(t, s, 1, "g", StatusLocked, "o")
	wantStatus(t, s, 2, "g", StatusLocked, "o")
	wantStatus(t, s, 3, "g", StatusReady, "") // the lane was full
	if got := uuids(lane.Take(10)); !slices.Equal(got, ids(1, 2)) {
		t.Fatalf("lane held %v", got)
	}
	mustEnqueue(t, s, work(4, target("g", 100)))
	wantStatus(t, s, 4, "g", StatusReady, "") // behind 3, though the lane has room
	// A claim that fills its limit may leave more behind.
	items, err := s.Claim(context.Background(), "g", "c", 1)
	if err != nil || !slices.Equal(uuids(items), ids(3)) {
		t.Fatalf("claim of 1: %v, %v", uuids(items), err)
	}
	mustEnqueue(t, s, work(5, target("g", 100)))
	wantStatus(t, s, 5, "g", StatusReady, "")
	if got := shortClaim(t, s, "g"); !slices.Equal(got, ids(4, 5)) {
		t.Fatalf("claimed %v", got)
	}
	mustEnqueue(t, s, work(6, target("g", 100)))
	if it := recv(t, lane); it.UUID != work(6).UUID {
		t.Fatalf("handed %s", it.UUID)
	}
	wantStatus(t, s, 6, "g", StatusLocked, "o")
}

func TestDirectLanesShareGroup(t *testing.T) {
	s, _ := openDirect(t)
	l0 := directLane(t, s, "g", "o0", 1)
	l1 := directLane(t, s, "g", "o1", 1)
	for i := 1; i <= 3; i++ {
		mustEnqueue(t, s, work(i, target("g", 100)))
	}
	// Round robin: one item each.
	if a, b := recv(t, l0), recv(t, l1); a.UUID != work(1).UUID || b.UUID != work(2).UUID {
		t.Fatalf("lanes got %s and %s", a.UUID, b.UUID)
	}
	wantStatus(t, s, 1, "g", StatusLocked, "o0")
	wantStatus(t, s, 2, "g", StatusLocked, "o1")
	wantStatus(t, s, 3, "g", StatusReady, "") // both lanes full
}

func TestDirectLanePaused(t *testing.T) {
	s, _ := openDirect(t)
	lane := directLane(t, s, "g", "o", 4)
	lane.Pause()
	mustEnqueue(t, s, work(1, target("g", 100)))
	nothingOn(t, lane)
	wantStatus(t, s, 1, "g", StatusReady, "")
	lane.Resume()
	mustEnqueue(t, s, work(2, target("g", 100)))
	nothingOn(t, lane)
	wantStatus(t, s, 2, "g", StatusReady, "") // behind 1
	if got := shortClaim(t, s, "g"); !slices.Equal(got, ids(1, 2)) {
		t.Fatalf("claimed %v", got)
	}
	mustEnqueue(t, s, work(3, target("g", 100)))
	if it := recv(t, lane); it.UUID != work(3).UUID {
		t.Fatalf("handed %s", it.UUID)
	}
}

func TestDirectLaneClose(t *testing.T) {
	s, _ := openDirect(t)
	lane := directLane(t, s, "g", "o", 4)
	mustEnqueue(t, s, work(1, target("g", 100)))
	mustEnqueue(t, s, work(2, target("g", 100)))
	if left := uuids(lane.Close()); !slices.Equal(left, ids(1, 2)) {
		t.Fatalf("Close returned %v", left)
	}
	wantStatus(t, s, 1, "g", StatusLocked, "o") // the worker releases them
	mustEnqueue(t, s, work(3, target("g", 100)))
	wantStatus(t, s, 3, "g", StatusReady, "")
	shortClaim(t, s, "g")
	mustEnqueue(t, s, work(4, target("g", 100)))
	nothingOn(t, lane)
	wantStatus(t, s, 4, "g", StatusReady, "")
}

func TestDirectOutcomeBacklog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome Outcome
		putBack bool // new work queues behind the item
	}{
		{"completed", Completed, false},
		{"failed", Failed, false},
		{"parked", Park, false},
		{"retry", Retry, true},
		{"release", Release, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clk := openDirect(t)
			lane := directLane(t, s, "g", "o", 4)
			mustEnqueue(t, s, work(1, target("g", 100)))
			it := recv(t, lane)
			res := Result{WorkID: it.WorkID, Outcome: tc.outcome, Error: "x", NextAttempt: clk.Now()}
			if err := s.Finish(context.Background(), "g", "o", []Result{res}); err != nil {
				t.Fatal(err)
			}
			if !tc.putBack {
				mustEnqueue(t, s, work(2, target("g", 100)))
				wantStatus(t, s, 2, "g", StatusLocked, "o")
				return
			}
			wantQueuedBehind(t, s, lane, "g", "o")
		})
	}
}

func TestDirectReleaseOwners(t *testing.T) {
	s, _ := openDirect(t)
	lg := directLane(t, s, "g", "inst/g/0", 4)
	lh := directLane(t, s, "h", "other/h/0", 4)
	mustEnqueue(t, s, work(1, target("g", 100), target("h", 100)))
	recv(t, lg)
	recv(t, lh)
	if n, err := s.ReleaseOwners(context.Background(), "inst/"); err != nil || n != 1 {
		t.Fatalf("released %d, %v", n, err)
	}
	wantStatus(t, s, 1, "g", StatusReady, "")
	wantStatus(t, s, 1, "h", StatusLocked, "other/h/0")
	wantQueuedBehind(t, s, lg, "g", "inst/g/0")
}

// wantQueuedBehind checks that work 2, enqueued now, waits READY behind
// work 1 (put back to READY) until a short claim takes both in order, and
// that work 3 is then handed over to owner again.
func wantQueuedBehind(t *testing.T, s *Store, lane *Lane, group, owner string) {
	t.Helper()
	mustEnqueue(t, s, work(2, target(group, 100)))
	nothingOn(t, lane)
	wantStatus(t, s, 2, group, StatusReady, "")
	if got := shortClaim(t, s, group); !slices.Equal(got, ids(1, 2)) {
		t.Fatalf("claimed %v", got)
	}
	mustEnqueue(t, s, work(3, target(group, 100)))
	wantStatus(t, s, 3, group, StatusLocked, owner)
}

func TestDirectSkipsCoverage(t *testing.T) {
	s, _ := openDirect(t)
	ctx := context.Background()
	lg := directLane(t, s, "g", "og", 4)
	lz := directLane(t, s, "z", "oz", 4)
	_, skipped, err := s.Enqueue(ctx, work(1, target("g", 100), target("z", 0)))
	if err != nil || !slices.Equal(skipped, []string{"z"}) {
		t.Fatalf("skipped %v, %v", skipped, err)
	}
	nothingOn(t, lz)
	if r := status(t, s, work(1).UUID, "z"); r.Status != StatusCompleted || !r.Skipped || r.Owner != "" || r.LockTime != 0 {
		t.Fatalf("skipped row %+v", r)
	}
	it := recv(t, lg)
	if err := s.Finish(ctx, "g", "og", []Result{{WorkID: it.WorkID, Outcome: Completed}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Backlog(ctx); n != 0 {
		t.Fatalf("%d submissions left after the only delivering group finished", n)
	}
}
