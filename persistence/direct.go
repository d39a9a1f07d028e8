package persistence

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/ace-collector/ace-collector/collector"
)

// Direct hand-over. While a group has no due READY work waiting in the
// store, the embedded store's writer locks a new submission for one of the
// group's delivery workers in the enqueue transaction itself, and hands
// the item over in memory once that transaction has committed: payload
// and decoded submission included. The claim (a select, an update, a read
// of the payload back) and the worker's decode of the payload are skipped.
// The row is LOCKED by that worker's owner exactly as a claim would leave
// it, so a crash, a restart (ReleaseOwners), status and the stale-claim
// rules treat it the same way; durability is unchanged, since Enqueue
// still returns only once its commit is synced.
//
// Order is kept: once a READY item is due for a group (a lane was full or
// paused, an outcome put an item back, claims were released), new work for
// that group is stored READY behind it until a claim finds no more due
// READY work. Workers also claim at least once per poll interval while
// items arrive directly, so READY work written by another process (an
// admin command) is not starved.
//
// Only the store with a single writer goroutine (SQLite) hands work over:
// reservations are made and settled on that goroutine. MySQL queues, shared
// by several instances, always go through claims.

// Lane is one delivery worker's hand-over channel.
type Lane struct {
	s      *Store
	gid    int64
	owner  string
	jowner string // owner as a JSON string, for the insert's argument
	ch     chan Item
	// pending counts slots reserved by the round being written (writer
	// goroutine only); len(ch)+pending never exceeds cap(ch), so the
	// writer's sends never block.
	pending int
	paused  atomic.Bool
}

// directGroup is one group's lanes and whether due READY work may wait in
// the store.
type directGroup struct {
	lanes   []*Lane
	next    int         // round robin over lanes (writer goroutine)
	backlog atomic.Bool // due READY work may wait: new work queues behind it
	// recent keeps the decoded submissions of work stored READY for the
	// group while its lanes were full, up to recentMax, so that a claim
	// of it hands the submission over too (writer goroutine only).
	recent map[int64]*collector.Submission
}

// recentMax bounds directGroup.recent: the oldest READY work, which claims
// take first, is kept (later work is decoded when claimed), so a backlog
// of any size costs at most this many submissions of memory per group.
const recentMax = 4096

// directSet is the store's lanes by group id.
type directSet struct {
	mu     sync.RWMutex // the writer holds it shared for a round
	groups map[int64]*directGroup
}

// handed is one item reserved on a lane by the round being written; or,
// with no lane, one stored READY whose submission is kept for its claim.
type handed struct {
	lane *Lane
	gid  int64
	item Item
}

// Direct registers owner, a delivery worker of group, for up to n items
// handed over at a time, and returns its lane; nil where the store does
// not hand work over (MySQL). The worker must Close the lane when it stops.
func (s *Store) Direct(ctx context.Context, group, owner string, n int) (*Lane, error) {
	if s.d.writers != 1 || n <= 0 {
		return nil, nil
	}
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return nil, err
	}
	jo, _ := json.Marshal(owner)
	l := &Lane{s: s, gid: gid, owner: owner, jowner: string(jo), ch: make(chan Item, n)}
	d := &s.direct
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.groups == nil {
		d.groups = map[int64]*directGroup{}
	}
	g := d.groups[gid]
	if g == nil {
		g = &directGroup{}
		g.backlog.Store(true) // unknown until a claim finds none
		d.groups[gid] = g
	}
	g.lanes = append(g.lanes, l)
	return l, nil
}

// UsesSubmissions reports whether the store may hand QueuedWork.Sub to a
// worker (collector.SubmissionUser): only where it hands work over.
func (s *Store) UsesSubmissions() bool { return s.d.writers == 1 }

// C is where handed-over items arrive (nil, never ready, on a nil lane).
func (l *Lane) C() <-chan Item {
	if l == nil {
		return nil
	}
	return l.ch
}

// Take returns up to max items waiting on the lane, without waiting.
func (l *Lane) Take(max int) []Item {
	if l == nil {
		return nil
	}
	var out []Item
	for len(out) < max {
		select {
		case it := <-l.ch:
			out = append(out, it)
		default:
			return out
		}
	}
	return out
}

// Pause stops new hand-overs to the lane (its group cannot deliver now);
// Resume starts them again.
func (l *Lane) Pause() {
	if l != nil {
		l.paused.Store(true)
	}
}

// Resume: see Pause.
func (l *Lane) Resume() {
	if l != nil {
		l.paused.Store(false)
	}
}

// Close unregisters the lane and returns what was still on it: those
// items are LOCKED by the lane's owner, and the worker releases them.
func (l *Lane) Close() []Item {
	if l == nil {
		return nil
	}
	d := &l.s.direct
	d.mu.Lock() // waits for a round reserving on the lane to finish
	if g := d.groups[l.gid]; g != nil {
		for i, x := range g.lanes {
			if x == l {
				g.lanes = append(g.lanes[:i:i], g.lanes[i+1:]...)
				break
			}
		}
	}
	d.mu.Unlock()
	return l.Take(cap(l.ch))
}

// markBacklog notes, outside the writer's rounds, that due READY work may
// wait for every group, so new work queues behind it.
func (s *Store) markBacklog() {
	d := &s.direct
	d.mu.RLock()
	defer d.mu.RUnlock()
	for _, g := range d.groups {
		g.backlog.Store(true)
	}
}

// setBacklog records, inside a round (which holds direct.mu shared),
// whether due READY work may wait for group gid: set by an outcome that
// puts work back, cleared by a claim that found no more.
func (s *Store) setBacklog(gid int64, waiting bool) {
	if g := s.direct.groups[gid]; g != nil {
		g.backlog.Store(waiting)
	}
}

// reserve picks a lane of group gid with room for one more item and
// reserves the slot, or returns nil: the item is then stored READY and
// the group's later work queues behind it. The caller (the writer, in a
// round, holding direct.mu shared) settles the reservation with handOver
// or unreserve.
func (s *Store) reserve(gid int64) *Lane {
	g := s.direct.groups[gid]
	if g == nil {
		return nil
	}
	if !g.backlog.Load() {
		for range g.lanes {
			l := g.lanes[g.next%len(g.lanes)]
			g.next++
			if !l.paused.Load() && len(l.ch)+l.pending < cap(l.ch) {
				l.pending++
				return l
			}
		}
	}
	g.backlog.Store(true)
	return nil
}

// handOver sends a committed round's reserved items to their lanes, and
// keeps the submissions of its READY work for their claims. (Only after
// the commit: a rolled-back insert's id is used again.)
func (s *Store) handOver(hs []handed) {
	for _, h := range hs {
		if h.lane == nil {
			s.keepRecent(h.gid, h.item)
			continue
		}
		h.lane.pending--
		h.lane.ch <- h.item // never blocks: the slot was reserved
	}
}

// unreserve gives back the slots of a round that did not commit.
func unreserve(hs []handed) {
	for _, h := range hs {
		if h.lane != nil {
			h.lane.pending--
		}
	}
}

func (s *Store) keepRecent(gid int64, it Item) {
	g := s.direct.groups[gid]
	if g == nil || it.Sub == nil {
		return
	}
	if g.recent == nil {
		g.recent = map[int64]*collector.Submission{}
	}
	if len(g.recent) < recentMax {
		g.recent[it.WorkID] = it.Sub
	}
}

// recentFor gives claimed items of group gid the submissions kept for
// them; with empty, the claim found no more due READY work and what is
// kept is stale (work failed or deleted without a claim): it is dropped.
func (s *Store) recentFor(gid int64, items []Item, empty bool) {
	g := s.direct.groups[gid]
	if g == nil || len(g.recent) == 0 {
		return
	}
	for i := range items {
		if sub, ok := g.recent[items[i].WorkID]; ok {
			items[i].Sub = sub
			delete(g.recent, items[i].WorkID)
		}
	}
	if empty {
		clear(g.recent)
	}
}
