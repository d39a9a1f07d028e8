package persistence

import (
	"context"
	"fmt"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// The cleanup side of the queue, called by the collector runtime's cleanup
// loop and start-up sweep.

// Finished lists up to limit submissions whose groups are all done. Before
// it returns submissions with files, every outcome that finished them is
// made durable: the caller deletes their files next, and a power cut must
// not bring back an item whose files are gone. (Without files there is
// nothing to lose: a rolled-back outcome only means delivering again.)
func (s *Store) Finished(ctx context.Context, limit int) ([]collector.FinishedWork, error) {
	var rows []struct {
		ID       int64  `db:"id"`
		UUID     string `db:"uuid"`
		HasFiles bool   `db:"has_files"`
	}
	if err := s.rsel(ctx, &rows, sqlFinished, limit); err != nil {
		return nil, fmt.Errorf("persistence: listing finished work: %w", err)
	}
	out := make([]collector.FinishedWork, len(rows))
	files := false
	for i, r := range rows {
		out[i] = collector.FinishedWork{ID: r.ID, UUID: r.UUID, HasFiles: r.HasFiles}
		files = files || r.HasFiles
	}
	if files {
		if err := s.syncBarrier(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

const sqlFinished = `SELECT id, uuid, has_files FROM incoming_workload WHERE pending <= 0 LIMIT ?`

// deleteOp is one Delete waiting for the writer.
type deleteOp struct {
	opReq
	ids []int64
}

// Delete removes submissions and their distribution rows.
func (s *Store) Delete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	defer s.afterDelete(ctx) // truncate the WAL; a full store may recover
	return s.w.submit(ctx, &deleteOp{opReq: newReq(ctx), ids: ids})
}

const sqlDeleteWork = "DELETE FROM incoming_workload WHERE id " + inList

// sqlDeleteDist deletes every group's delivery state of the submissions,
// through the primary key (the schema keeps no index on work_id for it).
// MySQL needs none: its foreign key deletes them with the submission.
const sqlDeleteDist = "DELETE FROM work_distribution WHERE group_id IN (SELECT id FROM work_distribution_groups) AND work_id " + inList

func (s *Store) applyDeletes(t wtx, ops []*deleteOp) error {
	var ids []int64
	for _, op := range ops {
		ids = append(ids, op.ids...)
	}
	if len(ids) == 0 {
		return nil
	}
	if s.d.name == "sqlite" {
		if _, err := t.exec(sqlDeleteDist, ids); err != nil {
			return fmt.Errorf("deleting finished work: %w", err)
		}
	}
	if _, err := t.exec(sqlDeleteWork, ids); err != nil {
		return fmt.Errorf("deleting finished work: %w", err)
	}
	return nil
}

// Existing returns which of uuids are queued.
func (s *Store) Existing(ctx context.Context, uuids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for start := 0; start < len(uuids); start += 500 {
		chunk := uuids[start:min(start+500, len(uuids))]
		var found []string
		if err := s.rsel(ctx, &found, sqlQueuedUUIDs, chunk); err != nil {
			return nil, fmt.Errorf("persistence: looking up submissions: %w", err)
		}
		for _, u := range found {
			out[u] = true
		}
	}
	return out, nil
}

// ExpireKeys deletes volatile keys created more than createdAge ago OR not
// updated for unmodifiedAge (ACE's persistence_expiration_seconds and
// persistence_unmodified_expiration_seconds). A zero age disables that rule.
func (s *Store) ExpireKeys(ctx context.Context, createdAge, unmodifiedAge time.Duration) (int64, error) {
	var total int64
	now := s.now()
	for _, rule := range []struct {
		col string
		age time.Duration
	}{{"created_at", createdAge}, {"last_update", unmodifiedAge}} {
		if rule.age <= 0 {
			continue
		}
		res, err := s.exec(ctx, "DELETE FROM persistence WHERE permanent = 0 AND "+rule.col+" < ?",
			now.Add(-rule.age).UnixMilli())
		if err != nil {
			return total, fmt.Errorf("persistence: expiring keys: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}
