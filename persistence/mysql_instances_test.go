package persistence

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// Two collector instances (two Store handles) share one MySQL queue:
// 5,000 submissions through 2 groups, several claimers per instance and
// group, each with its own owner id. Every (submission, group) pair is
// delivered exactly once; a crashed instance's claims are taken over only
// after ReleaseStale's timeout, never by the other instance's start-up
// ReleaseOwners.
func TestMySQLTwoInstancesShareQueue(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	clk := newClock()
	inst := []*Store{openMySQLStoreAt(t, dsn, clk.Now), openMySQLStoreAt(t, dsn, clk.Now)}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 5000
	groups := []string{"g1", "g2"}

	start := time.Now()
	// Enqueue from both instances at once.
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, _, err := inst[w%2].Enqueue(ctx, work(i, target("g1", 100), target("g2", 100))); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}

	t.Logf("enqueued %d in %v", n, time.Since(start))
	// A third instance claims 50 items of g1 and crashes.
	crashed, err := inst[1].Claim(ctx, "g1", "inst3/g1/0", 50)
	if err != nil || len(crashed) != 50 {
		t.Fatalf("crashed owner claimed %d, %v", len(crashed), err)
	}

	var mu sync.Mutex
	delivered := map[string]int{} // "group/workID" -> deliveries
	drain := func() {
		var wg sync.WaitGroup
		for i, s := range inst {
			// Each instance restarts once: its start-up release must not
			// touch the crashed instance's claims.
			if _, err := s.ReleaseOwners(ctx, fmt.Sprintf("inst%d/", i+1)); err != nil {
				t.Fatal(err)
			}
			for _, g := range groups {
				for c := 0; c < 3; c++ {
					wg.Add(1)
					go func(s *Store, g, owner string) {
						defer wg.Done()
						for ctx.Err() == nil {
							items, err := s.Claim(ctx, g, owner, 40)
							if err != nil {
								t.Error(err)
								return
							}
							if len(items) == 0 {
								return
							}
							// The delivery heartbeat, as workers refresh their claims.
							if err := s.Touch(ctx, owner); err != nil {
								t.Error(err)
								return
							}
							res := make([]Result, len(items))
							mu.Lock()
							for k, it := range items {
								delivered[fmt.Sprintf("%s/%d", g, it.WorkID)]++
								res[k] = Result{WorkID: it.WorkID, Outcome: Completed}
							}
							mu.Unlock()
							if err := s.Finish(ctx, g, owner, res); err != nil {
								t.Error(err)
								return
							}
						}
					}(s, g, fmt.Sprintf("inst%d/%s/%d", i+1, g, c))
				}
			}
		}
		wg.Wait()
	}
	start = time.Now()
	drain()
	t.Logf("delivered %d pairs in %v", len(delivered), time.Since(start))
	if t.Failed() {
		t.FailNow()
	}
	if got := len(delivered); got != 2*n-50 {
		t.Fatalf("delivered %d pairs before the takeover, want %d", got, 2*n-50)
	}
	lockedBy := func(owner string) int {
		var k int
		if err := inst[0].DB().GetContext(ctx, &k, "SELECT COUNT(*) FROM work_distribution WHERE status = 'LOCKED' AND lock_uuid = ?", owner); err != nil {
			t.Fatal(err)
		}
		return k
	}
	if k := lockedBy("inst3/g1/0"); k != 50 {
		t.Fatalf("crashed owner holds %d claims, want 50", k)
	}
	clk.Advance(9 * time.Minute)
	if k, _ := inst[0].ReleaseStale(ctx, 10*time.Minute); k != 0 {
		t.Fatalf("released %d claims before the stale timeout", k)
	}
	clk.Advance(2 * time.Minute)
	if k, _ := inst[0].ReleaseStale(ctx, 10*time.Minute); k != 50 {
		t.Fatalf("released %d stale claims, want 50", k)
	}
	drain()
	// The crashed owner wakes up and reports: ignored, nothing counted twice.
	late := make([]Result, len(crashed))
	for k, it := range crashed {
		late[k] = Result{WorkID: it.WorkID, Outcome: Completed}
	}
	if err := inst[1].Finish(ctx, "g1", "inst3/g1/0", late); err != nil {
		t.Fatal(err)
	}

	if got := len(delivered); got != 2*n {
		t.Fatalf("delivered %d distinct pairs, want %d", got, 2*n)
	}
	for k, c := range delivered {
		if c != 1 {
			t.Errorf("%s delivered %d times", k, c)
		}
	}
	var completed, minPending int
	inst[0].DB().GetContext(ctx, &completed, "SELECT COUNT(*) FROM work_distribution WHERE status = 'COMPLETED'")
	inst[0].DB().GetContext(ctx, &minPending, "SELECT MIN(pending) FROM incoming_workload")
	if completed != 2*n || minPending != 0 {
		t.Fatalf("COMPLETED rows %d (want %d), min pending %d (want 0)", completed, 2*n, minPending)
	}
	fin, err := inst[1].Finished(ctx, 2*n)
	if err != nil || len(fin) != n {
		t.Fatalf("finished %d of %d, %v", len(fin), n, err)
	}
}
