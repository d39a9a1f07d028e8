package persistence

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"
)

// repair makes the salvaged rows consistent: delivery states of lost
// submissions are dropped, submissions whose states were all lost are
// requeued, claims of the dead daemon are released, and pending
// counts are recomputed.
func repair(ctx context.Context, dst *Store, groups []string, rep *RecoverReport) error {
	return dst.withTx(ctx, func(tx *sqlx.Tx) error {
		// The queue keeps no index on work_id (cleanup deletes by primary
		// key); the repair looks states up by submission, so it builds
		// one for its own transaction.
		if _, err := tx.ExecContext(ctx, `CREATE INDEX recover_work ON work_distribution(work_id)`); err != nil {
			return fmt.Errorf("persistence: recover: indexing delivery states: %w", err)
		}
		defer tx.ExecContext(ctx, `DROP INDEX IF EXISTS recover_work`)
		res, err := tx.ExecContext(ctx, `DELETE FROM work_distribution
			WHERE work_id NOT IN (SELECT id FROM incoming_workload)`)
		if err != nil {
			return fmt.Errorf("persistence: recover: dropping dangling delivery states: %w", err)
		}
		rep.Dangling, _ = res.RowsAffected()
		now := dst.nowMs()
		res, err = tx.ExecContext(ctx, `UPDATE work_distribution SET status = 'READY', lock_uuid = NULL,
			lock_time = NULL, next_attempt = ?, updated_at = ? WHERE status = 'LOCKED'`, now, now)
		if err != nil {
			return fmt.Errorf("persistence: recover: releasing claims: %w", err)
		}
		rep.Unlocked, _ = res.RowsAffected()
		requeued, stateless, err := requeueMissing(ctx, tx, groups, now)
		if err != nil {
			return err
		}
		rep.Requeued, rep.Stateless = requeued, stateless
		// Submissions still without any state keep their pending count,
		// so cleanup never deletes them.
		if _, err := tx.ExecContext(ctx, `UPDATE incoming_workload SET pending = (
			SELECT COUNT(*) FROM work_distribution d WHERE d.work_id = incoming_workload.id
			AND (d.status IN ('READY', 'LOCKED') OR (d.status = 'ERROR' AND d.parked = 1)))
			WHERE id IN (SELECT work_id FROM work_distribution)`); err != nil {
			return fmt.Errorf("persistence: recover: recomputing pending counts: %w", err)
		}
		return nil
	})
}

// requeueMissing re-creates, READY, the delivery states that were lost: for
// every salvaged submission, each configured group that the damaged store
// knew and the submission has no state for (honouring its
// group_assignments). A submission with no state at all and no such group
// is queued for every configured group instead. Delivery is at-least-once:
// a lost state may have been COMPLETED, so a duplicate is possible.
func requeueMissing(ctx context.Context, tx *sqlx.Tx, groups []string, now int64) (requeued, stateless int64, err error) {
	known := map[string]int64{}
	rows, err := tx.QueryxContext(ctx, "SELECT id, name FROM work_distribution_groups")
	if err != nil {
		return 0, 0, fmt.Errorf("persistence: recover: reading groups: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return 0, 0, err
		}
		known[name] = id
	}
	rows.Close()
	var candidates []string // configured groups the damaged store knew
	for _, g := range groups {
		if _, ok := known[g]; ok {
			candidates = append(candidates, g)
		}
	}
	// First the ids of submissions lacking a state in some candidate
	// group (or any state at all), without their payloads: a big backlog
	// must not be loaded into memory.
	var candIDs []any
	for _, g := range candidates {
		candIDs = append(candIDs, known[g])
	}
	inCands := "0"
	if len(candIDs) > 0 {
		inCands = strings.TrimSuffix(strings.Repeat("?,", len(candIDs)), ",")
	}
	var ids []int64
	if err := tx.SelectContext(ctx, &ids, `SELECT w.id FROM incoming_workload w
		WHERE NOT EXISTS (SELECT 1 FROM work_distribution d WHERE d.work_id = w.id)
		OR (SELECT COUNT(*) FROM work_distribution d WHERE d.work_id = w.id AND d.group_id IN (`+inCands+`)) < ?`,
		append(candIDs, len(candIDs))...); err != nil {
		return 0, 0, fmt.Errorf("persistence: recover: reading delivery states: %w", err)
	}
	type workState struct {
		ID     int64  `db:"id"`
		Work   []byte `db:"work"`
		States int    `db:"states"`
		Have   string `db:"have"`
	}
	for _, id := range ids {
		var w workState
		if err := tx.GetContext(ctx, &w, `SELECT w.id, w.work,
			(SELECT COUNT(*) FROM work_distribution d WHERE d.work_id = w.id) AS states,
			COALESCE((SELECT GROUP_CONCAT(g.name, char(31)) FROM work_distribution d
				JOIN work_distribution_groups g ON g.id = d.group_id WHERE d.work_id = w.id), '') AS have
			FROM incoming_workload w WHERE w.id = ?`, id); err != nil {
			return 0, 0, fmt.Errorf("persistence: recover: reading delivery states of %d: %w", id, err)
		}
		want := assignedGroups(w.Work, candidates)
		if w.States == 0 && len(want) == 0 {
			want = assignedGroups(w.Work, groups)
		}
		have := strings.Split(w.Have, "\x1f")
		added := 0
		for _, g := range want {
			if slices.Contains(have, g) {
				continue
			}
			id, ok := known[g]
			if !ok {
				if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO work_distribution_groups (name) VALUES (?)", g); err != nil {
					return 0, 0, fmt.Errorf("persistence: recover: registering group %s: %w", g, err)
				}
				if err := tx.GetContext(ctx, &id, "SELECT id FROM work_distribution_groups WHERE name = ?", g); err != nil {
					return 0, 0, fmt.Errorf("persistence: recover: registering group %s: %w", g, err)
				}
				known[g] = id
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO work_distribution (group_id, work_id, status, next_attempt, updated_at)
				VALUES (?, ?, 'READY', ?, ?)`, id, w.ID, now, now); err != nil {
				return 0, 0, fmt.Errorf("persistence: recover: requeueing submission %d: %w", w.ID, err)
			}
			added++
		}
		requeued += int64(added)
		if w.States == 0 && added == 0 {
			stateless++
		}
	}
	return requeued, stateless, nil
}

// assignedGroups applies a stored submission's group_assignments to
// groups: the named ones, or all when it names none of them (the
// runtime's rule).
func assignedGroups(work []byte, groups []string) []string {
	var sub struct {
		GroupAssignments []string `json:"group_assignments"`
	}
	if json.Unmarshal(work, &sub) != nil || len(sub.GroupAssignments) == 0 {
		return groups
	}
	var out []string
	for _, g := range groups {
		if slices.Contains(sub.GroupAssignments, g) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		return groups
	}
	return out
}
