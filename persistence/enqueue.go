package persistence

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jmoiron/sqlx"
)

// DedupHash is how dedup keys are stored: md5 hex, as ACE does, so the key
// length is bounded whatever the collector uses as a key.
func DedupHash(key string) string {
	h := md5.Sum([]byte(key))
	return hex.EncodeToString(h[:])
}

// enqueueBatch writes every request of a group commit in one transaction
// and sets each request's result or error.
func (s *Store) enqueueBatch(reqs []*enqueueReq) {
	ctx := context.Background() // a batch is not aborted by one caller's ctx
	// Register names outside the transaction so the id caches never hold
	// ids from a rolled-back transaction.
	for _, r := range reqs {
		if err := s.registerNames(ctx, r.w); err != nil {
			r.err = err
		}
	}
	var live []*enqueueReq
	for _, r := range reqs {
		if r.err == nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	err := s.durableTx(ctx, func(tx *sqlx.Tx) error { return s.writeBatch(ctx, tx, live) })
	if err != nil && len(live) > 1 {
		// One bad submission (say, larger than MySQL's max_allowed_packet)
		// must not fail the others that happened to share its commit.
		s.log.Debug("group commit failed, writing its submissions one by one", "n", len(live), "error", err)
		ok := false
		for _, r := range live {
			one := []*enqueueReq{r}
			if err := s.durableTx(ctx, func(tx *sqlx.Tx) error { return s.writeBatch(ctx, tx, one) }); err != nil {
				r.err, r.res = fmt.Errorf("persistence: enqueue of %s: %w", r.w.UUID, err), EnqueueResult{}
				continue
			}
			ok = true
		}
		if ok {
			s.signal()
		}
		return
	}
	if err != nil {
		err = fmt.Errorf("persistence: enqueue of %d submissions: %w", len(live), err)
		for _, r := range live {
			r.err, r.res = err, EnqueueResult{}
		}
		return
	}
	s.signal()
}

func (s *Store) registerNames(ctx context.Context, w *Work) error {
	if _, err := s.idFor(ctx, s.db, s.types, "incoming_workload_type", w.Type); err != nil {
		return err
	}
	for _, g := range w.Groups {
		if _, err := s.idFor(ctx, s.db, s.groups, "work_distribution_groups", g.Name); err != nil {
			return err
		}
	}
	if w.DedupKey != "" {
		if _, err := s.idFor(ctx, s.db, s.sources, "persistence_source", w.DedupSource); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) cachedID(cache map[string]int64, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cache[name]
}

func (s *Store) writeBatch(ctx context.Context, tx *sqlx.Tx, reqs []*enqueueReq) error {
	now := s.nowMs()
	// Coverage counters of the sampled groups in this batch, read under
	// lock. A group at 100% always delivers and leaves its counter as it is
	// (c + 100 - 100), so it needs no counter row and no lock.
	counters := map[int64]int{}
	uuids := make([]string, 0, len(reqs))
	for _, r := range reqs {
		r.res = EnqueueResult{}
		uuids = append(uuids, r.w.UUID)
		for _, g := range r.w.Groups {
			if g.Coverage < 100 {
				counters[s.cachedID(s.groups, g.Name)] = 0
			}
		}
	}
	if len(counters) > 0 {
		gids := make([]int64, 0, len(counters))
		for id := range counters {
			gids = append(gids, id)
		}
		q, args, err := sqlx.In("SELECT id, coverage_counter FROM work_distribution_groups WHERE id IN (?)"+s.d.forUpdate, gids)
		if err != nil {
			return err
		}
		rows, err := tx.QueryxContext(ctx, tx.Rebind(q), args...)
		if err != nil {
			return fmt.Errorf("reading coverage counters: %w", err)
		}
		for rows.Next() {
			var id int64
			var c int
			if err := rows.Scan(&id, &c); err != nil {
				rows.Close()
				return err
			}
			counters[id] = c
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	// A uuid already queued was stored by an earlier attempt whose commit
	// succeeded but was reported as failed: it is done, not an error.
	stored := map[string]bool{}
	q, args, err := sqlx.In("SELECT uuid FROM incoming_workload WHERE uuid IN (?)", uuids)
	if err != nil {
		return err
	}
	var already []string
	if err := tx.SelectContext(ctx, &already, tx.Rebind(q), args...); err != nil {
		return fmt.Errorf("checking for queued submissions: %w", err)
	}
	for _, u := range already {
		stored[u] = true
	}

	type dist struct {
		uuid    string
		gid     int64
		skipped bool
	}
	var dists []dist
	var works []*Work
	for _, r := range reqs {
		w := r.w
		if stored[w.UUID] {
			continue
		}
		stored[w.UUID] = true // the same uuid twice in one batch
		if w.DedupKey != "" {
			dup, err := s.dedup(ctx, tx, w, now)
			if err != nil {
				return err
			}
			if dup {
				r.res.Duplicate = true
				continue
			}
		}
		works = append(works, w)
		for _, g := range w.Groups {
			gid := s.cachedID(s.groups, g.Name)
			if g.Coverage >= 100 {
				dists = append(dists, dist{w.UUID, gid, false})
				continue
			}
			// ACE's running counter: exact over any window of 100/gcd
			// items, and stable across restarts because it is stored.
			c := counters[gid] + g.Coverage
			skip := c < 100
			if !skip {
				c -= 100
			}
			counters[gid] = c
			if skip {
				r.res.Skipped = append(r.res.Skipped, g.Name)
			}
			dists = append(dists, dist{w.UUID, gid, skip})
		}
	}
	if len(works) == 0 {
		return nil
	}
	pending := make(map[string]int, len(works))
	for _, d := range dists {
		if !d.skipped {
			pending[d.uuid]++
		}
	}
	// Insert the submissions in multi-row statements, then read their ids.
	ids := make(map[string]int64, len(works))
	for start, end := 0, 0; start < len(works); start = end {
		end = insertChunkEnd(works, start)
		chunk := works[start:end]
		var sb strings.Builder
		sb.WriteString("INSERT INTO incoming_workload (uuid, type_id, mode, work, has_files, pending, insert_date) VALUES ")
		args := make([]any, 0, len(chunk)*7)
		uuids := make([]string, 0, len(chunk))
		for i, w := range chunk {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?,?,?,?)")
			args = append(args, w.UUID, s.cachedID(s.types, w.Type), w.Mode, w.Payload, w.HasFiles, pending[w.UUID], now)
			uuids = append(uuids, w.UUID)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("inserting submissions: %w", err)
		}
		q, qargs, err := sqlx.In("SELECT id, uuid FROM incoming_workload WHERE uuid IN (?)", uuids)
		if err != nil {
			return err
		}
		rows, err := tx.QueryxContext(ctx, tx.Rebind(q), qargs...)
		if err != nil {
			return fmt.Errorf("reading submission ids: %w", err)
		}
		for rows.Next() {
			var id int64
			var u string
			if err := rows.Scan(&id, &u); err != nil {
				rows.Close()
				return err
			}
			ids[u] = id
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	for start := 0; start < len(dists); start += 200 {
		chunk := dists[start:min(start+200, len(dists))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO work_distribution (group_id, work_id, status, skipped, next_attempt, updated_at) VALUES ")
		args := make([]any, 0, len(chunk)*6)
		for i, d := range chunk {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?,?,?)")
			status := StatusReady
			if d.skipped {
				status = StatusCompleted
			}
			args = append(args, d.gid, ids[d.uuid], status, d.skipped, now, now)
		}
		if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
			return fmt.Errorf("inserting work distribution: %w", err)
		}
	}
	for gid, c := range counters {
		if _, err := tx.ExecContext(ctx, "UPDATE work_distribution_groups SET coverage_counter = ? WHERE id = ?", c, gid); err != nil {
			return fmt.Errorf("updating coverage counter: %w", err)
		}
	}
	return nil
}

// Multi-row inserts hold at most insertMaxRows rows and, past the first
// row, insertMaxBytes of payload, so a statement stays well below MySQL's
// max_allowed_packet (16 MiB by default on MariaDB).
const (
	insertMaxRows  = 200
	insertMaxBytes = 4 << 20
)

// insertChunkEnd returns the end of the chunk of works starting at start.
func insertChunkEnd(works []*Work, start int) int {
	size := 0
	end := start
	for end < len(works) && end-start < insertMaxRows {
		size += len(works[end].Payload)
		if end > start && size > insertMaxBytes {
			break
		}
		end++
	}
	return end
}

// dedup reports whether w's key is already remembered, refreshing it if so
// and remembering it (volatile) if not.
func (s *Store) dedup(ctx context.Context, tx *sqlx.Tx, w *Work, now int64) (bool, error) {
	src := s.cachedID(s.sources, w.DedupSource)
	key := DedupHash(w.DedupKey)
	if s.d.upsertTellsNew {
		res, err := tx.ExecContext(ctx, s.d.upsertKey, src, 0, key, nil, now, now)
		if err != nil {
			return false, fmt.Errorf("saving dedup key: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, fmt.Errorf("saving dedup key: %w", err)
		}
		return n != 1, nil
	}
	var n int
	if err := tx.GetContext(ctx, &n, "SELECT COUNT(*) FROM persistence WHERE source_id = ? AND uuid = ?"+s.d.forUpdate, src, key); err != nil {
		return false, fmt.Errorf("checking dedup key: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.d.upsertKey, src, 0, key, nil, now, now); err != nil {
		return false, fmt.Errorf("saving dedup key: %w", err)
	}
	return n > 0, nil
}
