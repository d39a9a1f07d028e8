package persistence

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// StoredWork is one stored submission with its delivery state per group
// (for the live view's search and detail; cleaned-up submissions are gone).
type StoredWork struct {
	ID         int64  `db:"id"`
	UUID       string `db:"uuid"`
	Collector  string `db:"name"` // the submitting collector (incoming_workload_type)
	Payload    []byte `db:"work"`
	InsertDate int64  `db:"insert_date"` // unix milliseconds
	// States maps group name to READY, LOCKED, COMPLETED, ERROR, or
	// SKIPPED (COMPLETED by coverage without delivery).
	States map[string]string `db:"-"`
}

// Recent returns up to limit stored submissions with ids below before (0:
// from the newest), newest first: an indexed walk backwards, never a scan
// of the whole backlog.
func (s *Store) Recent(ctx context.Context, before int64, limit int) ([]StoredWork, error) {
	q := `SELECT w.id, w.uuid, t.name, w.work, w.insert_date FROM incoming_workload w
		JOIN incoming_workload_type t ON t.id = w.type_id`
	args := []any{}
	if before > 0 {
		q += " WHERE w.id < ?"
		args = append(args, before)
	}
	q += " ORDER BY w.id DESC LIMIT ?"
	args = append(args, limit)
	var out []StoredWork
	if err := s.db.SelectContext(ctx, &out, q, args...); err != nil {
		return nil, fmt.Errorf("persistence: reading recent submissions: %w", err)
	}
	return out, s.fillStates(ctx, out)
}

// Lookup returns the stored submission uuid; found is false when it is not
// (or no longer) stored.
func (s *Store) Lookup(ctx context.Context, uuid string) (_ *StoredWork, found bool, err error) {
	var out []StoredWork
	if err := s.db.SelectContext(ctx, &out, `SELECT w.id, w.uuid, t.name, w.work, w.insert_date FROM incoming_workload w
		JOIN incoming_workload_type t ON t.id = w.type_id WHERE w.uuid = ?`, uuid); err != nil {
		return nil, false, fmt.Errorf("persistence: looking up submission %s: %w", uuid, err)
	}
	if len(out) == 0 {
		return nil, false, nil
	}
	return &out[0], true, s.fillStates(ctx, out)
}

func (s *Store) fillStates(ctx context.Context, works []StoredWork) error {
	if len(works) == 0 {
		return nil
	}
	idx := make(map[int64]int, len(works))
	ids := make([]int64, len(works))
	for i := range works {
		idx[works[i].ID] = i
		ids[i] = works[i].ID
		works[i].States = map[string]string{}
	}
	q, args, err := sqlx.In(`SELECT d.work_id, g.name, d.status, d.skipped FROM work_distribution d
		JOIN work_distribution_groups g ON g.id = d.group_id WHERE d.work_id IN (?)`, ids)
	if err != nil {
		return err
	}
	var rows []struct {
		WorkID  int64  `db:"work_id"`
		Group   string `db:"name"`
		Status  string `db:"status"`
		Skipped bool   `db:"skipped"`
	}
	if err := s.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return fmt.Errorf("persistence: reading delivery states: %w", err)
	}
	for _, r := range rows {
		st := r.Status
		if r.Skipped {
			st = "SKIPPED"
		}
		works[idx[r.WorkID]].States[r.Group] = st
	}
	return nil
}
