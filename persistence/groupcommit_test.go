package persistence

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
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
		mustEnqueue(t, s, work(0, target("g", 100)))
		for round := 0; round < 5; round++ {
			var wg sync.WaitGroup
			errs := make([]error, 21)
			for i := 0; i <= 20; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					n := 1000*(round+1) + i
					w := work(n, target("g", 100))
					switch i {
					case 0:
						w.Mode = strings.Repeat("m", 300) // the bad one
					case 1:
						w = work(0, target("g", 100)) // already queued
					}
					_, _, errs[i] = s.Enqueue(ctx, w)
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
			mustEnqueue(t, s, work(i, target("g", 100)))
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

// A round merges writes of every kind; when one of them fails, the
// others still take effect (each runs again alone) and only the bad one
// reports an error. The bad write is an over-long analysis mode, which
// only MySQL's strict mode refuses.
func TestMergedRoundIsolatesBadWrite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		s := open(nil)
		if s.Dialect() != "mysql" {
			t.Skip("SQLite has no column length limit to break a write with")
		}
		ctx := context.Background()
		for i := 1; i <= 3; i++ {
			mustEnqueue(t, s, work(i, target("g", 100)))
		}
		held, err := s.Claim(ctx, "g", "o", 2)
		if err != nil || len(held) != 2 {
			t.Fatalf("claim: %d, %v", len(held), err)
		}
		gid, err := s.GroupID(ctx, "g")
		if err != nil {
			t.Fatal(err)
		}
		bad, good := work(100, target("g", 100)), work(101, target("g", 100))
		bad.Mode = strings.Repeat("m", 300)
		for _, w := range []*collector.QueuedWork{&bad, &good} {
			if err := s.registerNames(ctx, w); err != nil {
				t.Fatal(err)
			}
		}
		badOp := &enqueueOp{opReq: newReq(ctx), w: &bad}
		goodOp := &enqueueOp{opReq: newReq(ctx), w: &good}
		finish := &finishOp{opReq: newReq(ctx), gid: gid, group: "g", owner: "o",
			results: []Result{{WorkID: held[0].WorkID, Outcome: Completed}, {WorkID: held[1].WorkID, Outcome: Completed}}}
		claim := &claimOp{opReq: newReq(ctx), gid: gid, group: "g", owner: "o2", limit: 10}
		ops := []writeOp{badOp, finish, claim, goodOp}
		s.write(ops)
		for _, op := range ops {
			<-op.req().done
		}
		if badOp.err == nil {
			t.Fatal("the over-long mode was stored")
		}
		for i, op := range ops[1:] {
			if err := op.req().err; err != nil {
				t.Fatalf("write %d failed with the bad one: %v", i+1, err)
			}
		}
		if !goodOp.stored {
			t.Error("the good submission was not stored")
		}
		// Run again alone, in their order, the claim came before the good
		// enqueue: it holds the third item.
		if len(claim.items) != 1 || claim.items[0].UUID != work(3).UUID {
			t.Errorf("claim took %+v, want the third item", claim.items)
		}
		if fin, err := s.Finished(ctx, 10); err != nil || len(fin) != 2 {
			t.Errorf("finished %d (%v), want the 2 completed", len(fin), err)
		}
	})
}
