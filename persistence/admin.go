package persistence

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// The operator's side of the queue, called by the CLI (queue status,
// errors, retry) and the status page.

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
	s.markBacklog() // first: no new work may pass what this puts back
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
