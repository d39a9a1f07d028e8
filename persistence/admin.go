package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

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
			var ids []int64
			if err := tx.SelectContext(ctx, &ids, `SELECT work_id FROM work_distribution
				WHERE group_id = ? AND status = 'READY' ORDER BY group_id, status, next_attempt, work_id LIMIT 1000`+s.d.forUpdate, gid); err != nil {
				return err
			}
			n = len(ids)
			if n == 0 {
				return nil
			}
			q, args, err := sqlx.In(`UPDATE work_distribution SET status = 'ERROR', last_error = ?, updated_at = ?
				WHERE group_id = ? AND work_id IN (?)`, reason, s.nowMs(), gid, ids)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return err
			}
			q, args, err = sqlx.In(`UPDATE incoming_workload SET pending = pending - 1 WHERE id IN (?)`, ids)
			if err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, q, args...)
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

// Finished lists up to limit submissions whose groups are all done.
func (s *Store) Finished(ctx context.Context, limit int) ([]Finished, error) {
	var out []Finished
	if err := s.db.SelectContext(ctx, &out, `SELECT id, uuid, has_files FROM incoming_workload
		WHERE pending <= 0 LIMIT ?`, limit); err != nil {
		return nil, fmt.Errorf("persistence: listing finished work: %w", err)
	}
	// The caller deletes files next: the outcomes that finished these
	// items must be on disk first, or a power cut could bring back an
	// item whose files are gone.
	if len(out) > 0 {
		if err := s.syncBarrier(ctx); err != nil {
			return nil, fmt.Errorf("persistence: syncing before cleanup: %w", err)
		}
	}
	return out, nil
}

// Delete removes submissions and their distribution rows.
func (s *Store) Delete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	defer s.afterDelete(ctx) // truncate the WAL; a full store may recover
	return s.withTx(ctx, func(tx *sqlx.Tx) error {
		for _, stmt := range []string{
			"DELETE FROM work_distribution WHERE work_id IN (?)",
			"DELETE FROM incoming_workload WHERE id IN (?)",
		} {
			q, args, err := sqlx.In(stmt, ids)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("persistence: deleting finished work: %w", err)
			}
		}
		return nil
	})
}

// Existing returns which of uuids are queued.
func (s *Store) Existing(ctx context.Context, uuids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(uuids); start += 500 {
		chunk := uuids[start:min(start+500, len(uuids))]
		q, args, err := sqlx.In("SELECT uuid FROM incoming_workload WHERE uuid IN (?)", chunk)
		if err != nil {
			return nil, err
		}
		var found []string
		if err := s.db.SelectContext(ctx, &found, q, args...); err != nil {
			return nil, fmt.Errorf("persistence: looking up submissions: %w", err)
		}
		for _, u := range found {
			out[u] = true
		}
	}
	return out, nil
}

// RetryErrors puts ERROR items back to READY (all groups when group is
// empty) and returns how many.
func (s *Store) RetryErrors(ctx context.Context, group string) (int64, error) {
	var total int64
	q := `SELECT group_id, work_id, parked FROM work_distribution WHERE status = 'ERROR'`
	args := []any{}
	if group != "" {
		// Resolved before the transaction: GroupID uses its own
		// connection, and the embedded store has only one, so asking for it
		// inside the transaction waited forever.
		gid, err := s.GroupID(ctx, group)
		if err != nil {
			return 0, fmt.Errorf("persistence: retrying failed work of group %s: %w", group, err)
		}
		q += " AND group_id = ?"
		args = append(args, gid)
	}
	err := s.withTx(ctx, func(tx *sqlx.Tx) error {
		total = 0
		var rows []struct {
			GroupID int64 `db:"group_id"`
			WorkID  int64 `db:"work_id"`
			Parked  bool  `db:"parked"`
		}
		if err := tx.SelectContext(ctx, &rows, q+s.d.forUpdate, args...); err != nil {
			return err
		}
		now := s.nowMs()
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, `UPDATE work_distribution SET status = 'READY', parked = 0, attempts = 0,
				next_attempt = ?, updated_at = ? WHERE group_id = ? AND work_id = ?`, now, now, r.GroupID, r.WorkID); err != nil {
				return err
			}
			if !r.Parked {
				if _, err := tx.ExecContext(ctx, `UPDATE incoming_workload SET pending = pending + 1 WHERE id = ?`, r.WorkID); err != nil {
					return err
				}
			}
			total++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("persistence: retrying failed work: %w", err)
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
		var ids []int64
		if err := tx.SelectContext(ctx, &ids, `SELECT work_id FROM work_distribution
			WHERE status = 'ERROR' AND parked = 1 AND updated_at < ?`+s.d.forUpdate, before.UnixMilli()); err != nil {
			return err
		}
		total = int64(len(ids))
		for start := 0; start < len(ids); start += 500 {
			chunk := ids[start:min(start+500, len(ids))]
			for _, stmt := range []string{
				"UPDATE work_distribution SET parked = 0 WHERE status = 'ERROR' AND parked = 1 AND work_id IN (?)",
				"UPDATE incoming_workload SET pending = pending - 1 WHERE id IN (?)",
			} {
				q, args, err := sqlx.In(stmt, chunk)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
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

// GroupCount is the number of items of one group in one state.
type GroupCount struct {
	Group   string `db:"name"`
	Status  string `db:"status"`
	Skipped bool   `db:"skipped"`
	Parked  bool   `db:"parked"`
	Count   int64  `db:"n"`
}

// Counts returns item counts per group, state, coverage skip and park.
func (s *Store) Counts(ctx context.Context) ([]GroupCount, error) {
	var out []GroupCount
	if err := s.db.SelectContext(ctx, &out, `SELECT g.name, d.status, d.skipped, d.parked, COUNT(*) AS n
		FROM work_distribution d JOIN work_distribution_groups g ON g.id = d.group_id
		GROUP BY g.name, d.status, d.skipped, d.parked ORDER BY g.name, d.status`); err != nil {
		return nil, fmt.Errorf("persistence: counting work: %w", err)
	}
	return out, nil
}

// Backlog is the number of submissions stored.
func (s *Store) Backlog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.GetContext(ctx, &n, "SELECT COUNT(*) FROM incoming_workload"); err != nil {
		return 0, fmt.Errorf("persistence: counting submissions: %w", err)
	}
	return n, nil
}

// ErrorItem is an item in ERROR state.
type ErrorItem struct {
	Group     string `db:"name"`
	UUID      string `db:"uuid"`
	Attempts  int    `db:"attempts"`
	Parked    bool   `db:"parked"`
	LastError string `db:"last_error"`
	UpdatedAt int64  `db:"updated_at"`
}

// Errors lists up to limit ERROR items, newest first.
func (s *Store) Errors(ctx context.Context, limit int) ([]ErrorItem, error) {
	var out []ErrorItem
	if err := s.db.SelectContext(ctx, &out, `SELECT g.name, w.uuid, d.attempts, d.parked, COALESCE(d.last_error, '') AS last_error, d.updated_at
		FROM work_distribution d
		JOIN work_distribution_groups g ON g.id = d.group_id
		JOIN incoming_workload w ON w.id = d.work_id
		WHERE d.status = 'ERROR' ORDER BY d.updated_at DESC LIMIT ?`, limit); err != nil {
		return nil, fmt.Errorf("persistence: listing errors: %w", err)
	}
	return out, nil
}
