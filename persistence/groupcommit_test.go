package persistence

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// One bad submission in a group commit fails alone; the submissions that
// shared its transaction are stored. The bad one is an analysis mode longer
// than the column (MySQL's strict mode refuses it; SQLite has no length
// limit, so there it is stored). A uuid already queued, as after a retried
// ambiguous enqueue, is not an error: it is already stored.
func TestGroupCommitIsolatesBadSubmission(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		strict := s.Dialect() == "mysql"
		ctx := context.Background()
		mustEnqueue(t, s, work(0, GroupTarget{"g", 100}))
		for round := 0; round < 5; round++ {
			var wg sync.WaitGroup
			errs := make([]error, 21)
			for i := 0; i <= 20; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					n := 1000*(round+1) + i
					w := work(n, GroupTarget{"g", 100})
					switch i {
					case 0:
						w.Mode = strings.Repeat("m", 300) // the bad one
					case 1:
						w = work(0, GroupTarget{"g", 100}) // already queued
					}
					_, errs[i] = s.Enqueue(ctx, w)
				}(i)
			}
			wg.Wait()
			if strict && errs[0] == nil {
				t.Fatalf("round %d: an over-long mode was accepted", round)
			}
			for i, err := range errs[1:] {
				if err != nil {
					t.Fatalf("round %d: submission %d failed with the duplicate: %v", round, i+1, err)
				}
			}
		}
		want := int64(1 + 5*19)
		if !strict {
			want += 5
		}
		if n, _ := s.Backlog(ctx); n != want {
			t.Fatalf("backlog %d, want %d", n, want)
		}
	})
}

// ReleaseOwners matches the owner prefix by characters, also when the
// instance name is not ASCII.
func TestReleaseOwnersNonASCIIPrefix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			mustEnqueue(t, s, work(i, GroupTarget{"g", 100}))
		}
		for _, owner := range []string{"hôst-1/g/0", "hôst-10/g/0", "host-1/g/0"} {
			if items, err := s.Claim(ctx, "g", owner, 1); err != nil || len(items) != 1 {
				t.Fatalf("claim for %s: %d, %v", owner, len(items), err)
			}
		}
		if n, err := s.ReleaseOwners(ctx, "hôst-1/"); err != nil || n != 1 {
			t.Fatalf("released %d claims of hôst-1/, %v; want 1", n, err)
		}
	})
}
