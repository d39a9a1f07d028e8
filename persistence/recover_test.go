package persistence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

const recoverN = 1500

// filledStore writes recoverN submissions of ~2 KiB to two groups (with
// dedup keys, so persistence rows exist too), completes some, claims some
// and closes the store. It returns the path and every payload by uuid.
func filledStore(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	payloads := map[string][]byte{}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < recoverN; i++ {
		u := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
		pad := make([]byte, 2000)
		for j := range pad {
			pad[j] = 'a' + byte(rng.IntN(26))
		}
		p := []byte(fmt.Sprintf(`{"uuid":%q,"description":"item %d","details":%q}`, u, i, pad))
		payloads[u] = p
		if _, _, err := s.Enqueue(ctx, collector.QueuedWork{UUID: u, Type: "t", Mode: "analysis", Payload: p,
			Groups:      []collector.GroupTarget{{Name: "g1", Coverage: 100}, {Name: "g2", Coverage: 100}},
			DedupSource: "src", DedupKey: u}); err != nil {
			t.Fatal(err)
		}
	}
	items, err := s.Claim(ctx, "g1", "owner-1", 100)
	if err != nil || len(items) != 100 {
		t.Fatalf("claim: %d, %v", len(items), err)
	}
	var res []Result
	for _, it := range items[:60] {
		res = append(res, Result{WorkID: it.WorkID, Outcome: Completed})
	}
	if err := s.Finish(ctx, "g1", "owner-1", res); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Fatal("WAL left after close; damage would not reach the data")
	}
	return path, payloads
}

func truncateHalf(t *testing.T, path string) {
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2/4096*4096); err != nil {
		t.Fatal(err)
	}
}

// overwriteMiddle overwrites whole pages in the middle with random bytes.
func overwriteMiddle(pages int) func(t *testing.T, path string) {
	return func(t *testing.T, path string) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		st, _ := f.Stat()
		junk := make([]byte, 4096*pages)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range junk {
			junk[i] = byte(rng.IntN(256))
		}
		if _, err := f.WriteAt(junk, st.Size()/2/4096*4096); err != nil {
			t.Fatal(err)
		}
	}
}

func overwriteHeader(t *testing.T, path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(bytes.Repeat([]byte("garbage!"), 16), 0); err != nil {
		t.Fatal(err)
	}
}

func TestRecoverDamagedStore(t *testing.T) {
	for _, tc := range []struct {
		name       string
		damage     func(t *testing.T, path string)
		minCopied  int64 // submissions that must be salvaged
		unreadable bool  // nothing can be read at all
	}{
		{"truncated to half", truncateHalf, recoverN / 4, false},
		{"one page overwritten", overwriteMiddle(1), recoverN * 8 / 10, false},
		{"ten pages overwritten", overwriteMiddle(10), recoverN / 2, false},
		{"header overwritten", overwriteHeader, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path, payloads := filledStore(t)
			orig, _ := os.ReadFile(path)
			tc.damage(t, path)

			// The daemon refuses, naming the remedy that keeps the backlog.
			_, err := Open(ctx, Config{Path: path})
			if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "ace-collector recover -c") {
				t.Fatalf("Open of a damaged store: %v; want ErrDamaged naming `ace-collector recover`", err)
			}
			damagedBytes, _ := os.ReadFile(path)

			rep, err := Recover(ctx, RecoverOptions{Path: path, Groups: []string{"g1", "g2"},
				Now: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }})
			if err != nil {
				t.Fatal(err)
			}
			if rep.DamagedPath != path+".damaged-20260102T030405Z" {
				t.Errorf("damaged path %s", rep.DamagedPath)
			}
			kept, err := os.ReadFile(rep.DamagedPath)
			if err != nil || !bytes.Equal(kept, damagedBytes) {
				t.Fatalf("the damaged file was not kept as it was (%v)", err)
			}
			if bytes.Equal(orig, damagedBytes) {
				t.Fatal("the test did not damage the file")
			}

			s, err := Open(ctx, Config{Path: path})
			if err != nil {
				t.Fatalf("the recovered store does not open: %v", err)
			}
			defer s.Close()
			var works []struct {
				UUID    string `db:"uuid"`
				Work    []byte `db:"work"`
				Pending int    `db:"pending"`
			}
			if err := s.DB().SelectContext(ctx, &works, "SELECT uuid, work, pending FROM incoming_workload"); err != nil {
				t.Fatal(err)
			}
			var copied int64
			for _, tbl := range rep.Tables {
				if tbl.Table == "incoming_workload" {
					copied = tbl.Copied
				}
			}
			t.Logf("%s: %d of %d submissions salvaged, %d rows lost in all, %d requeued, %d dangling dropped, %d unlocked; open error %q",
				tc.name, len(works), recoverN, rep.Lost(), rep.Requeued, rep.Dangling, rep.Unlocked, rep.OpenError)
			if tc.unreadable {
				if rep.OpenError == "" || len(works) != 0 {
					t.Fatalf("unreadable store: open error %q, %d rows", rep.OpenError, len(works))
				}
				return
			}
			if int64(len(works)) != copied || copied < tc.minCopied {
				t.Fatalf("salvaged %d submissions (report %d), want at least %d", len(works), copied, tc.minCopied)
			}
			if tc.name == "truncated to half" && (copied == recoverN || rep.Lost() == 0) {
				t.Fatalf("truncation lost nothing (copied %d, lost %d)", copied, rep.Lost())
			}
			for _, w := range works {
				if want, ok := payloads[w.UUID]; !ok || !bytes.Equal(w.Work, want) {
					t.Fatalf("salvaged submission %s differs from what was stored", w.UUID)
				}
				if w.Pending < 1 {
					t.Fatalf("salvaged submission %s has pending %d: cleanup would delete it undelivered", w.UUID, w.Pending)
				}
			}
			// Every salvaged submission has a state in each group again.
			for _, g := range []string{"g1", "g2"} {
				var n int
				if err := s.DB().GetContext(ctx, &n, `SELECT COUNT(*) FROM work_distribution d
					JOIN work_distribution_groups g ON g.id = d.group_id WHERE g.name = ?`, g); err != nil {
					t.Fatal(err)
				}
				if n != len(works) {
					t.Errorf("group %s has %d delivery states for %d submissions", g, n, len(works))
				}
			}
			var locked int
			s.DB().GetContext(ctx, &locked, "SELECT COUNT(*) FROM work_distribution WHERE status = 'LOCKED'")
			if locked != 0 {
				t.Errorf("%d claims of the dead daemon still LOCKED", locked)
			}
		})
	}
}

// Recover on an intact store with inconsistent rows: states whose
// submission is gone are dropped, a submission with no state is queued
// again for every group, claims are released, and nothing is lost.
func TestRecoverRepairsConsistency(t *testing.T) {
	ctx := context.Background()
	path, _ := filledStore(t)
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	db := s.DB()
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec("DELETE FROM work_distribution WHERE work_id = 5") // lost state
	mustExec("DELETE FROM incoming_workload WHERE id = 7")      // lost submission
	mustExec("UPDATE work_distribution_groups SET coverage_counter = 42 WHERE name = 'g2'")
	s.Close()
	// An earlier recover was interrupted half way.
	if err := os.WriteFile(path+".recovering", []byte("partial"), 0o640); err != nil {
		t.Fatal(err)
	}

	rep, err := Recover(ctx, RecoverOptions{Path: path, Groups: []string{"g1", "g2", "g3"}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Lost() != 0 || rep.Requeued != 2 || rep.Dangling != 2 || rep.Unlocked != 40 || rep.Stateless != 0 {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(path + ".recovering"); !os.IsNotExist(err) {
		t.Fatalf("work file of the recovery left behind: %v", err)
	}
	s, err = Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n, cov, pending int
	s.DB().GetContext(ctx, &n, "SELECT COUNT(*) FROM incoming_workload")
	s.DB().GetContext(ctx, &cov, "SELECT coverage_counter FROM work_distribution_groups WHERE name = 'g2'")
	s.DB().GetContext(ctx, &pending, "SELECT pending FROM incoming_workload WHERE id = 5")
	if n != recoverN-1 || cov != 42 || pending != 2 {
		t.Fatalf("submissions %d (want %d), coverage counter %d (want 42), pending of the requeued one %d (want 2)", n, recoverN-1, cov, pending)
	}
	var keys int
	s.DB().GetContext(ctx, &keys, "SELECT COUNT(*) FROM persistence")
	if keys != recoverN {
		t.Fatalf("%d dedup keys salvaged, want %d", keys, recoverN)
	}
	// g3 is new in the configuration: nothing old is queued for it.
	if items, err := s.Claim(ctx, "g3", "o", 10); err != nil || len(items) != 0 {
		t.Fatalf("claim in g3: %+v, %v", items, err)
	}
}

func TestRecoverRefusesWhileInUse(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Recover(ctx, RecoverOptions{Path: path}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Recover while the daemon runs: %v, want ErrLocked", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the store was moved: %v", err)
	}
}
