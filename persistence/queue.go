package persistence

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/jmoiron/sqlx"
)

// Claim locks up to limit READY items of group whose next attempt is due,
// oldest first, for owner. The query walks the (group_id, status,
// next_attempt, work_id) index, so its cost does not grow with the backlog.
func (s *Store) Claim(ctx context.Context, group, owner string, limit int) ([]Item, error) {
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return nil, err
	}
	now := s.nowMs()
	var items []Item
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		items = nil
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, s.claimSQL(), gid, now, limit); err != nil {
			return fmt.Errorf("selecting work: %w", err)
		}
		if len(ids) == 0 {
			return nil
		}
		q, args, err := sqlx.In(`UPDATE work_distribution SET status = 'LOCKED', lock_uuid = ?, lock_time = ?, updated_at = ?
			WHERE group_id = ? AND work_id IN (?)`, owner, now, now, gid, ids)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("locking work: %w", err)
		}
		q, args, err = sqlx.In(`SELECT w.id, w.uuid, w.mode, w.work, d.attempts, w.insert_date
			FROM incoming_workload w JOIN work_distribution d ON d.work_id = w.id AND d.group_id = ?
			WHERE w.id IN (?) ORDER BY d.next_attempt, w.id`, gid, ids)
		if err != nil {
			return err
		}
		if err := tx.SelectContext(ctx, &items, q, args...); err != nil {
			return fmt.Errorf("reading claimed work: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("persistence: claiming work for group %s: %w", group, err)
	}
	return items, nil
}

// claimSQL selects the work ids Claim locks; args: group id, now (unix
// ms), limit. It must stay an index range scan of work_distribution_claim
// (TestClaimUsesIndex checks the plan on every backend).
func (s *Store) claimSQL() string {
	return `SELECT work_id FROM work_distribution
			WHERE group_id = ? AND status = 'READY' AND next_attempt <= ?
			ORDER BY next_attempt, work_id LIMIT ?` + s.d.skipLocked
}

// NextDue returns when the earliest READY item of group becomes due, and
// false if the group has no READY item.
func (s *Store) NextDue(ctx context.Context, group string) (time.Time, bool, error) {
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return time.Time{}, false, err
	}
	var next *int64
	if err := s.db.GetContext(ctx, &next, `SELECT MIN(next_attempt) FROM work_distribution
		WHERE group_id = ? AND status = 'READY'`, gid); err != nil {
		return time.Time{}, false, fmt.Errorf("persistence: next due item of group %s: %w", group, err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(*next), true, nil
}

type resultKey struct {
	outcome Outcome
	err     string
	next    int64
}

// Finish records the outcomes of owner's claimed items, one statement per
// distinct outcome rather than one per row. Items owner no longer holds
// (its claim was taken over as stale) are left alone.
func (s *Store) Finish(ctx context.Context, group, owner string, results []Result) error {
	if len(results) == 0 {
		return nil
	}
	gid, err := s.GroupID(ctx, group)
	if err != nil {
		return err
	}
	now := s.nowMs()
	ids := make([]int64, len(results))
	for i, r := range results {
		ids[i] = r.WorkID
	}
	woke := false
	err = s.withTx(ctx, func(tx *sqlx.Tx) error {
		woke = false
		q, args, err := sqlx.In(`SELECT work_id FROM work_distribution`+s.d.byPrimaryKey+`
			WHERE group_id = ? AND lock_uuid = ? AND status = 'LOCKED' AND work_id IN (?)`+s.d.forUpdate, gid, owner, ids)
		if err != nil {
			return err
		}
		var owned []int64
		if err := tx.SelectContext(ctx, &owned, q, args...); err != nil {
			return fmt.Errorf("checking claims: %w", err)
		}
		own := make(map[int64]bool, len(owned))
		for _, id := range owned {
			own[id] = true
		}
		byKey := map[resultKey][]int64{}
		var terminal []int64
		for _, r := range results {
			if !own[r.WorkID] {
				continue
			}
			k := resultKey{outcome: r.Outcome, err: r.Error}
			if r.Outcome == Retry || r.Outcome == Release {
				k.next = r.NextAttempt.UnixMilli()
				woke = true
			}
			byKey[k] = append(byKey[k], r.WorkID)
			if r.Outcome == Completed || r.Outcome == Failed {
				terminal = append(terminal, r.WorkID)
			}
		}
		for k, wids := range byKey {
			var q string
			var args []any
			switch k.outcome {
			case Completed:
				q = `UPDATE work_distribution SET status = 'COMPLETED', lock_uuid = NULL, lock_time = NULL,
					attempts = attempts + 1, last_error = NULL, updated_at = ? WHERE group_id = ? AND work_id IN (?)`
				args = []any{now, gid, wids}
			case Failed:
				q = `UPDATE work_distribution SET status = 'ERROR', lock_uuid = NULL, lock_time = NULL,
					attempts = attempts + 1, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id IN (?)`
				args = []any{k.err, now, gid, wids}
			case Park:
				q = `UPDATE work_distribution SET status = 'ERROR', parked = 1, lock_uuid = NULL, lock_time = NULL,
					attempts = attempts + 1, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id IN (?)`
				args = []any{k.err, now, gid, wids}
			case Retry:
				q = `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL,
					attempts = attempts + 1, next_attempt = ?, last_error = ?, updated_at = ? WHERE group_id = ? AND work_id IN (?)`
				args = []any{k.next, k.err, now, gid, wids}
			case Release:
				q = `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL,
					next_attempt = ?, updated_at = ? WHERE group_id = ? AND work_id IN (?)`
				args = []any{k.next, now, gid, wids}
			}
			q, args, err := sqlx.In(q, args...)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("recording outcome: %w", err)
			}
		}
		if len(terminal) > 0 {
			q, args, err := sqlx.In(`UPDATE incoming_workload SET pending = pending - 1 WHERE id IN (?)`, terminal)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("updating pending counts: %w", err)
			}
			woke = true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("persistence: finishing work for group %s: %w", group, err)
	}
	if woke {
		s.signal()
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
