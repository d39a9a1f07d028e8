package persistence

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/collector"
)

// The delivery side of the queue, called by the groups' workers and their
// manager.

// Item is a claimed (submission, group) pair.
type Item struct {
	WorkID   int64  `db:"id"`
	UUID     string `db:"uuid"`
	Mode     string `db:"mode"`
	Payload  []byte `db:"work"`
	Attempts int    `db:"attempts"`
	// InsertDate is when the submission was stored (unix milliseconds).
	InsertDate int64 `db:"insert_date"`
	// Sub is the submission as its collector gave it, on an item handed
	// over at enqueue (direct.go); nil on a claimed item, whose Payload
	// is decoded instead. Read-only.
	Sub *collector.Submission `db:"-"`
}

// Outcome of one delivery attempt.
type Outcome int

const (
	// Completed: delivered; terminal.
	Completed Outcome = iota
	// Failed: permanently failed (or tried once without full delivery); terminal.
	Failed
	// Retry: failed transiently; back to READY at NextAttempt, attempt counted.
	Retry
	// Park: failed permanently but kept (ERROR, with its reason) for
	// inspection and `queue retry`; the submission is not cleaned up.
	Park
	// Release: not attempted (e.g. no node right now); back to READY at
	// NextAttempt without counting an attempt.
	Release
)

// Result is the outcome for one claimed item.
type Result struct {
	WorkID      int64
	Outcome     Outcome
	Error       string
	NextAttempt time.Time
}

// claimOp is one Claim waiting for the writer.
type claimOp struct {
	opReq
	gid          int64
	group, owner string
	limit        int
	items        []Item
}

// Claim locks up to limit READY items of group whose next attempt is due,
// oldest first, for owner, and returns them with their stored payload as
// it is. The query walks the (group_id, status, next_attempt, work_id)
// index, so its cost does not grow with the backlog; the claim shares the
// writer's transaction with whatever else is being written.
func (s *Store) Claim(ctx context.Context, group, owner string, limit int) ([]Item, error) {
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("persistence: claiming work for group %s: %w", group, err)
	}
	op := &claimOp{opReq: newReq(ctx), gid: gid, group: group, owner: owner, limit: limit}
	if err := s.w.submit(ctx, op); err != nil {
		return nil, err
	}
	return op.items, nil
}

// claimSQL selects the work ids Claim locks; args: group id, now (unix
// ms), limit. It must stay an index range scan of work_distribution_claim
// (TestClaimUsesIndex checks the plan on every backend).
func (s *Store) claimSQL() string {
	return `SELECT work_id FROM work_distribution
			WHERE group_id = ? AND status = 'READY' AND next_attempt <= ?
			ORDER BY next_attempt, work_id LIMIT ?` + s.d.skipLocked
}

const (
	sqlClaimLock = `UPDATE work_distribution SET status = 'LOCKED', lock_uuid = ?, lock_time = ?, updated_at = ?
			WHERE group_id = ? AND work_id ` + inList
	sqlClaimRead = `SELECT w.id, w.uuid, w.mode, w.work, d.attempts, w.insert_date
			FROM incoming_workload w JOIN work_distribution d ON d.work_id = w.id AND d.group_id = ?
			WHERE w.id ` + inList + ` ORDER BY d.next_attempt, w.id`
)

func (s *Store) applyClaim(t wtx, op *claimOp) error {
	op.items = nil
	now := s.nowMs()
	var ids []int64
	if err := t.sel(&ids, s.claimSQL(), op.gid, now, op.limit); err != nil {
		return fmt.Errorf("selecting work: %w", err)
	}
	if len(ids) < op.limit {
		s.setBacklog(op.gid, false) // no more due READY work: hand new work over
	}
	if len(ids) == 0 {
		s.recentFor(op.gid, nil, true)
		return nil
	}
	if _, err := t.exec(sqlClaimLock, op.owner, now, now, op.gid, ids); err != nil {
		return fmt.Errorf("locking work: %w", err)
	}
	if err := t.sel(&op.items, sqlClaimRead, op.gid, ids); err != nil {
		return fmt.Errorf("reading claimed work: %w", err)
	}
	s.recentFor(op.gid, op.items, len(ids) < op.limit)
	return nil
}

// NextDue returns when the earliest READY item of group becomes due, and
// false if the group has no READY item.
func (s *Store) NextDue(ctx context.Context, group string) (time.Time, bool, error) {
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return time.Time{}, false, err
	}
	var next *int64
	if err := s.rget(ctx, &next, sqlNextDue, gid); err != nil {
		return time.Time{}, false, fmt.Errorf("persistence: next due item of group %s: %w", group, err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(*next), true, nil
}

const sqlNextDue = `SELECT MIN(next_attempt) FROM work_distribution WHERE group_id = ? AND status = 'READY'`

// finishOp is one Finish waiting for the writer.
type finishOp struct {
	opReq
	gid          int64
	group, owner string
	results      []Result
	woke         bool
}

// Finish records the outcomes of owner's claimed items. Items owner no
// longer holds (its claim was taken over as stale) are left alone. The
// outcomes share the writer's transaction with the other writes waiting,
// one statement per distinct outcome rather than one per row.
func (s *Store) Finish(ctx context.Context, group, owner string, results []Result) error {
	if len(results) == 0 {
		return nil
	}
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return fmt.Errorf("persistence: finishing work for group %s: %w", group, err)
	}
	return s.w.submit(ctx, &finishOp{opReq: newReq(ctx), gid: gid, group: group, owner: owner, results: results})
}

// outcomeKey is what one UPDATE of outcomes shares.
type outcomeKey struct {
	gid     int64
	outcome Outcome
	err     string
	next    int64
}

var outcomeSQL = map[Outcome]string{
	Completed: `UPDATE work_distribution SET status = 'COMPLETED', lock_uuid = NULL, lock_time = NULL,
		attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE group_id = ? AND work_id ` + inList,
	Failed: `UPDATE work_distribution SET status = 'ERROR', lock_uuid = NULL, lock_time = NULL,
		attempts = attempts + 1, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id ` + inList,
	Park: `UPDATE work_distribution SET status = 'ERROR', parked = 1, lock_uuid = NULL, lock_time = NULL,
		attempts = attempts + 1, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id ` + inList,
	Retry: `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL,
		attempts = attempts + 1, next_attempt = ?, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id ` + inList,
	Release: `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL,
		next_attempt = ?, updated_at = ? WHERE group_id = ? AND work_id ` + inList,
}

func (k outcomeKey) args(now int64, ids []int64) []any {
	switch k.outcome {
	case Completed:
		return []any{now, k.gid, ids}
	case Failed, Park:
		return []any{k.err, now, k.gid, ids}
	case Retry:
		return []any{k.next, k.err, now, k.gid, ids}
	default: // Release
		return []any{k.next, now, k.gid, ids}
	}
}

// sqlHolders reads who holds claimed items of one group. It looks them up
// by primary key: the unary + keeps SQLite from walking every claim in
// work_distribution_locked instead.
const sqlHolders = `SELECT work_id, lock_uuid FROM work_distribution
		WHERE group_id = ? AND +status = 'LOCKED' AND work_id ` + inList

// holders reads, once per group, who holds each item of a round's Finish
// calls; an item no longer LOCKED has none.
func (s *Store) holders(t wtx, ops []*finishOp) (map[[2]int64]string, error) {
	byGroup := map[int64][]int64{}
	for _, op := range ops {
		for _, r := range op.results {
			byGroup[op.gid] = append(byGroup[op.gid], r.WorkID)
		}
	}
	out := map[[2]int64]string{}
	for gid, ids := range byGroup {
		var rows []struct {
			WorkID int64  `db:"work_id"`
			Owner  string `db:"lock_uuid"`
		}
		if err := t.sel(&rows, sqlHolders, gid, ids); err != nil {
			return nil, fmt.Errorf("checking claims: %w", err)
		}
		for _, r := range rows {
			out[[2]int64{gid, r.WorkID}] = r.Owner
		}
	}
	return out, nil
}

const sqlPendingDone = `UPDATE incoming_workload SET pending = pending - 1 WHERE id ` + inList

// applyFinishes records the outcomes of a round's Finish calls: each
// call's items still held by its owner, then one UPDATE per group and
// distinct outcome, and one pending-count UPDATE per group. On MySQL,
// where each statement is a round trip, one UPDATE per call and outcome
// does all three (applyFinishesJoined).
func (s *Store) applyFinishes(t wtx, ops []*finishOp) error {
	if s.d.joinedUpdate {
		return s.applyFinishesJoined(t, ops)
	}
	holders, err := s.holders(t, ops)
	if err != nil {
		return err
	}
	byKey := map[outcomeKey][]int64{}
	terminal := map[int64][]int64{} // group id → work ids now terminal
	done := map[[2]int64]bool{}     // (group, work) already decided this round
	for _, op := range ops {
		op.woke = false
		for _, r := range op.results {
			item := [2]int64{op.gid, r.WorkID}
			if holders[item] != op.owner || done[item] {
				continue
			}
			done[item] = true
			k := outcomeKey{gid: op.gid, outcome: r.Outcome, err: r.Error}
			switch r.Outcome {
			case Retry, Release:
				k.next = r.NextAttempt.UnixMilli()
				op.woke = true
				s.setBacklog(op.gid, true) // new work queues behind it
			case Completed, Failed:
				terminal[op.gid] = append(terminal[op.gid], r.WorkID)
				op.woke = true
			}
			byKey[k] = append(byKey[k], r.WorkID)
		}
	}
	gone, err := s.settlePending(t, terminal)
	if err != nil {
		return err
	}
	now := s.nowMs()
	// A fixed order, so that two instances finishing at once lock rows
	// in the same order.
	keys := make([]outcomeKey, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b outcomeKey) int {
		return cmp.Or(cmp.Compare(a.gid, b.gid), cmp.Compare(a.outcome, b.outcome),
			cmp.Compare(a.err, b.err), cmp.Compare(a.next, b.next))
	})
	for _, k := range keys {
		// Rows about to be deleted need no outcome.
		ids := slices.DeleteFunc(byKey[k], func(id int64) bool { return gone[id] })
		if len(ids) == 0 {
			continue
		}
		slices.Sort(ids)
		if _, err := t.exec(outcomeSQL[k.outcome], k.args(now, ids)...); err != nil {
			return fmt.Errorf("recording outcome: %w", err)
		}
	}
	return s.deleteGone(t, gone)
}

// sqlPendingSettle counts terminal outcomes down from the submissions'
// pending counts, returning what the cleanup decision needs (SQLite).
const sqlPendingSettle = `UPDATE incoming_workload SET pending = pending - 1 WHERE id ` + inList + `
	RETURNING id, pending, has_files`

// settlePending counts the round's terminal outcomes (work ids by group)
// down from their submissions' pending counts, and returns the submissions
// that are now finished and have no files: the round deletes those at
// once, instead of recording outcomes the cleanup loop would read back
// only to delete them. A submission with files waits for the cleanup loop,
// which makes the outcomes durable before it removes the files.
func (s *Store) settlePending(t wtx, terminal map[int64][]int64) (map[int64]bool, error) {
	gone := map[int64]bool{}
	for _, gid := range slices.Sorted(maps.Keys(terminal)) {
		ids := terminal[gid]
		slices.Sort(ids)
		var rows []struct {
			ID       int64 `db:"id"`
			Pending  int   `db:"pending"`
			HasFiles bool  `db:"has_files"`
		}
		if err := t.sel(&rows, sqlPendingSettle, ids); err != nil {
			return nil, fmt.Errorf("updating pending counts: %w", err)
		}
		for _, r := range rows {
			if r.Pending <= 0 && !r.HasFiles {
				gone[r.ID] = true
			}
		}
	}
	return gone, nil
}

// deleteGone deletes the submissions settlePending found finished.
func (s *Store) deleteGone(t wtx, gone map[int64]bool) error {
	if len(gone) == 0 {
		return nil
	}
	ids := slices.Sorted(maps.Keys(gone))
	if _, err := t.exec(sqlDeleteDist, ids); err != nil {
		return fmt.Errorf("deleting finished work: %w", err)
	}
	if _, err := t.exec(sqlDeleteWork, ids); err != nil {
		return fmt.Errorf("deleting finished work: %w", err)
	}
	if t.r != nil {
		t.r.cleaned += len(ids)
	}
	return nil
}

// ownedSQL is an outcome's UPDATE restricted to the rows owner still
// holds, walking the primary key (see dialect.byPrimaryKey); args: the
// statement's own with owner before the group id.
func (s *Store) ownedSQL(o Outcome) string {
	q := strings.Replace(outcomeSQL[o], "WHERE group_id = ?", "WHERE lock_uuid = ? AND status = 'LOCKED' AND group_id = ?", 1)
	return strings.Replace(q, "UPDATE work_distribution SET", "UPDATE work_distribution"+s.d.byPrimaryKey+" SET", 1)
}

// joinedSQL records terminal outcomes and the submissions' pending
// counts in one multi-table UPDATE (MySQL), restricted like ownedSQL.
// Each delivery state joins its own submission once (the group is fixed),
// so each count goes down by one.
func (s *Store) joinedSQL(o Outcome) (string, bool) {
	var set string
	switch o {
	case Completed:
		set = `d.status = 'COMPLETED', d.lock_uuid = NULL, d.lock_time = NULL, d.attempts = d.attempts + 1,
		d.last_error = NULL, d.updated_at = ?, w.pending = w.pending - 1`
	case Failed:
		set = `d.status = 'ERROR', d.lock_uuid = NULL, d.lock_time = NULL, d.attempts = d.attempts + 1,
		d.last_error = ?, d.updated_at = ?, w.pending = w.pending - 1`
	default:
		return "", false
	}
	return `UPDATE work_distribution d` + s.d.byPrimaryKey + ` JOIN incoming_workload w ON w.id = d.work_id SET ` + set + `
		WHERE d.lock_uuid = ? AND d.status = 'LOCKED' AND d.group_id = ? AND d.work_id ` + inList, true
}

// applyFinishesJoined records outcomes with one UPDATE per Finish call and
// distinct outcome, restricted to the rows the call's owner still holds.
func (s *Store) applyFinishesJoined(t wtx, ops []*finishOp) error {
	now := s.nowMs()
	for _, op := range ops {
		op.woke = false
		byKey := map[outcomeKey][]int64{}
		var keys []outcomeKey
		for _, r := range op.results {
			k := outcomeKey{gid: op.gid, outcome: r.Outcome, err: r.Error}
			if r.Outcome == Retry || r.Outcome == Release {
				k.next = r.NextAttempt.UnixMilli()
			}
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], r.WorkID)
		}
		for _, k := range keys {
			ids := byKey[k]
			slices.Sort(ids)
			args := k.args(now, ids)
			q, ok := s.joinedSQL(k.outcome)
			if !ok {
				q = s.ownedSQL(k.outcome)
			}
			// The owner goes before the group id (the last two args).
			args = append(args[:len(args)-2:len(args)-2], op.owner, k.gid, ids)
			res, err := t.exec(q, args...)
			if err != nil {
				return fmt.Errorf("recording outcome: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 && k.outcome != Park {
				op.woke = true
			}
		}
	}
	return nil
}

// Touch refreshes the lock time of owner's claims, so a slow but live
// worker's items are not taken over as stale.
func (s *Store) Touch(ctx context.Context, owner string) error {
	if _, err := s.exec(ctx, `UPDATE work_distribution SET lock_time = ?
		WHERE lock_uuid = ? AND status = 'LOCKED'`, s.nowMs(), owner); err != nil {
		return fmt.Errorf("persistence: refreshing claims of %s: %w", owner, err)
	}
	return nil
}

// ReleaseOwners returns to READY every claim whose owner starts with prefix
// (this instance's claims after a crash). Other instances' claims are left
// alone.
func (s *Store) ReleaseOwners(ctx context.Context, prefix string) (int64, error) {
	s.markBacklog() // first: no new work may pass what this puts back
	// SUBSTR counts characters, in SQLite and in MySQL.
	res, err := s.exec(ctx, `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL
		WHERE status = 'LOCKED' AND SUBSTR(lock_uuid, 1, ?) = ?`, utf8.RuneCountInString(prefix), prefix)
	if err != nil {
		return 0, fmt.Errorf("persistence: releasing claims of %s: %w", prefix, err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		s.signal()
	}
	return n, nil
}

// ReleaseStale returns to READY claims not refreshed for olderThan.
func (s *Store) ReleaseStale(ctx context.Context, olderThan time.Duration) (int64, error) {
	cutoff := s.now().Add(-olderThan).UnixMilli()
	s.markBacklog() // first: no new work may pass what this puts back
	res, err := s.exec(ctx, `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL
		WHERE status = 'LOCKED' AND lock_time < ?`, cutoff)
	if err != nil {
		return 0, fmt.Errorf("persistence: releasing stale claims: %w", err)
	}
	n, _ := res.RowsAffected()
	if n > 0 {
		s.signal()
	}
	return n, nil
}

// FailReady marks every READY item of group ERROR with reason (ACE's
// behaviour for a group without full delivery that has no node), in chunks
// so a large backlog does not become one huge transaction. Claimed items
// are not touched. It returns how many items it failed.
func (s *Store) FailReady(ctx context.Context, group, reason string) (int64, error) {
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return 0, err
	}
	var total int64
	for {
		var n int
		err := s.withTx(ctx, func(tx *sqlx.Tx) error {
			t := wtx{tx: tx, s: s, ctx: ctx}
			var ids []int64
			if err := t.sel(&ids, `SELECT work_id FROM work_distribution
				WHERE group_id = ? AND status = 'READY' ORDER BY group_id, status, next_attempt, work_id LIMIT 1000`+s.d.forUpdate, gid); err != nil {
				return err
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			if _, err := t.exec(`UPDATE work_distribution SET status = 'ERROR', last_error = ?, updated_at = ?
				WHERE group_id = ? AND work_id `+inList, reason, s.nowMs(), gid, ids); err != nil {
				return err
			}
			_, err := t.exec(sqlPendingDone, ids)
			return err
		})
		if err != nil {
			return total, fmt.Errorf("persistence: failing waiting work of group %s: %w", group, err)
		}
		total += int64(n)
		if n < 1000 {
			break
		}
	}
	if total > 0 {
		s.signal()
	}
	return total, nil
}

// PurgeParked releases parked ERROR items last updated before cutoff so the
// cleanup loop deletes them.
func (s *Store) PurgeParked(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		t := wtx{tx: tx, s: s, ctx: ctx}
		var ids []int64
		if err := t.sel(&ids, `SELECT work_id FROM work_distribution
			WHERE status = 'ERROR' AND parked = 1 AND updated_at < ?`+s.d.forUpdate, before.UnixMilli()); err != nil {
			return err
		}
		total = int64(len(ids))
		for start := 0; start < len(ids); start += 500 {
			chunk := ids[start:min(start+500, len(ids))]
			for _, stmt := range []string{
				"UPDATE work_distribution SET parked = 0 WHERE status = 'ERROR' AND parked = 1 AND work_id " + inList,
				"UPDATE incoming_workload SET pending = pending - 1 WHERE id " + inList,
			} {
				if _, err := t.exec(stmt, chunk); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("persistence: purging parked errors: %w", err)
	}
	return total, nil
}
