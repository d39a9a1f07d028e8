package persistence

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ace-collector/ace-collector/collector"
)

// Enqueue is called by the collector runtime's Submit: it durably stores w
// and distributes it to its groups, and returns only after the transaction
// holding w has committed. dup reports a remembered dedup key (nothing was
// stored); skipped lists the groups coverage decided not to deliver to.
// A uuid already queued (a retry of an enqueue whose commit was not
// reported) is stored already: no error, nothing written.
//
// While the embedded store's disk is full (see Full), it refuses at once,
// without writing, with an error wrapping syscall.ENOSPC.
func (s *Store) Enqueue(ctx context.Context, w collector.QueuedWork) (dup bool, skipped []string, err error) {
	if s.w.isClosed() {
		return false, nil, ErrClosed
	}
	if s.Full() && !s.tryRestore(ctx, false) {
		return false, nil, s.space.refusal()
	}
	// Names are registered before the write, outside its transaction, so
	// the id caches never hold ids of a rolled-back transaction.
	if err := s.registerNames(ctx, &w); err != nil {
		return false, nil, diskFull(fmt.Errorf("persistence: enqueue of %s: %w", w.UUID, err))
	}
	op := &enqueueOp{opReq: newReq(ctx), w: &w}
	if err := s.w.submit(ctx, op); err != nil {
		return false, nil, diskFull(err)
	}
	return op.dup, op.skipped, nil
}

// enqueueOp is one Enqueue waiting for the writer.
type enqueueOp struct {
	opReq
	w *collector.QueuedWork
	// Results, set by the round that wrote it.
	stored  bool
	dup     bool
	skipped []string
}

// DedupHash is how dedup keys are stored: md5 hex, as ACE does, so the key
// length is bounded whatever the collector uses as a key.
func DedupHash(key string) string {
	h := md5.Sum([]byte(key))
	return hex.EncodeToString(h[:])
}

func (s *Store) registerNames(ctx context.Context, w *collector.QueuedWork) error {
	if _, err := s.idFor(ctx, s.types, "incoming_workload_type", w.Type); err != nil {
		return err
	}
	for _, g := range w.Groups {
		if _, err := s.GroupID(ctx, g.Name); err != nil {
			return err
		}
	}
	if w.DedupKey != "" {
		if _, err := s.SourceID(ctx, w.DedupSource); err != nil {
			return err
		}
	}
	return nil
}

// applyEnqueues writes the enqueues of one round in three steps: read what
// the decision needs (readFacts), decide what to store (decide, pure), and
// write that (writePlan). Without lookUp, uuids already queued are not
// looked for: the insert then fails on one, and the round runs again.
func (s *Store) applyEnqueues(t wtx, ops []*enqueueOp, lookUp bool) error {
	if len(ops) == 0 {
		return nil
	}
	works := make([]*collector.QueuedWork, len(ops))
	for i, op := range ops {
		works[i] = op.w
	}
	f, err := s.readFacts(t, works, lookUp)
	if err != nil {
		return err
	}
	p := decide(works, f)
	if err := s.writePlan(t, works, p); err != nil {
		return err
	}
	for i, op := range ops {
		v := p.verdicts[i]
		op.stored, op.dup, op.skipped = v.store, v.duplicate, v.skipped
	}
	return nil
}

// readFacts reads, inside the round's transaction, the uuids of works
// already queued, the dedup keys already remembered and the coverage
// counters of the sampled groups.
func (s *Store) readFacts(t wtx, works []*collector.QueuedWork, lookUp bool) (facts, error) {
	f := facts{stored: map[string]bool{}, known: map[dedupRef]bool{}, counters: map[string]int{}}
	if lookUp {
		uuids := make([]string, len(works))
		for i, w := range works {
			uuids[i] = w.UUID
		}
		var already []string
		if err := t.sel(&already, sqlQueuedUUIDs, uuids); err != nil {
			return f, fmt.Errorf("checking for queued submissions: %w", err)
		}
		for _, u := range already {
			f.stored[u] = true
		}
	}
	if err := s.readKnownKeys(t, works, f); err != nil {
		return f, err
	}
	return f, s.readCounters(t, works, f)
}

const sqlQueuedUUIDs = "SELECT uuid FROM incoming_workload WHERE uuid " + inList

// readKnownKeys fills f.known with the dedup keys (of works not already
// stored) that existed before this round. On MySQL it remembers them at
// the same time: under READ COMMITTED a read of a missing key locks
// nothing, so two instances could both see a key as new; the upsert waits
// on the unique key, and its affected-rows count says whether it was new.
func (s *Store) readKnownKeys(t wtx, works []*collector.QueuedWork, f facts) error {
	bySource := map[string][]string{}
	for _, ref := range dedupKeys(works, f.stored) {
		bySource[ref.source] = append(bySource[ref.source], ref.hash)
	}
	now := s.nowMs()
	for source, hashes := range bySource {
		src := s.cachedID(s.sources, source)
		if s.d.upsertTellsNew {
			for _, h := range hashes {
				res, err := t.exec(s.d.upsertKey, src, 0, h, nil, now, now)
				if err != nil {
					return fmt.Errorf("saving dedup key: %w", err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return fmt.Errorf("saving dedup key: %w", err)
				}
				f.known[dedupRef{source, h}] = n != 1
			}
			continue
		}
		var found []string
		if err := t.sel(&found, sqlKnownKeys, src, hashes); err != nil {
			return fmt.Errorf("checking dedup keys: %w", err)
		}
		for _, h := range found {
			f.known[dedupRef{source, h}] = true
		}
	}
	return nil
}

const sqlKnownKeys = "SELECT uuid FROM persistence WHERE source_id = ? AND uuid " + inList

// readCounters fills f.counters for every group of works with coverage
// below 100 (locked until commit on MySQL). A group at 100% always
// delivers and leaves its counter as it is (c + 100 - 100), so it needs
// no counter and no lock.
func (s *Store) readCounters(t wtx, works []*collector.QueuedWork, f facts) error {
	var gids []int64
	names := map[int64]string{}
	for _, w := range works {
		for _, g := range w.Groups {
			if g.Coverage >= 100 {
				continue
			}
			id := s.cachedID(s.groups, g.Name)
			if _, ok := names[id]; !ok {
				names[id] = g.Name
				gids = append(gids, id)
				f.counters[g.Name] = 0
			}
		}
	}
	if len(gids) == 0 {
		return nil
	}
	slices.Sort(gids) // lock order
	var rows []struct {
		ID      int64 `db:"id"`
		Counter int   `db:"coverage_counter"`
	}
	if err := t.sel(&rows, s.sqlCounters(), gids); err != nil {
		return fmt.Errorf("reading coverage counters: %w", err)
	}
	for _, r := range rows {
		f.counters[names[r.ID]] = r.Counter
	}
	return nil
}

func (s *Store) sqlCounters() string {
	return "SELECT id, coverage_counter FROM work_distribution_groups WHERE id " + inList + s.d.forUpdate
}

// writePlan inserts the submissions and delivery states p decided on, and
// stores the dedup keys (SQLite; MySQL stored them in readKnownKeys) and
// coverage counters.
func (s *Store) writePlan(t wtx, works []*collector.QueuedWork, p plan) error {
	now := s.nowMs()
	var rows []workRow
	for i, v := range p.verdicts {
		if v.store {
			rows = append(rows, workRow{w: works[i], v: v, typeID: s.cachedID(s.types, works[i].Type), now: now})
		}
	}
	if len(rows) > 0 {
		if err := s.insertWorks(t, rows, now); err != nil {
			return err
		}
		if err := s.insertDistribution(t, rows, now); err != nil {
			return err
		}
	}
	if !s.d.upsertTellsNew {
		for _, ref := range p.keys {
			if _, err := t.exec(s.d.upsertKey, s.cachedID(s.sources, ref.source), 0, ref.hash, nil, now, now); err != nil {
				return fmt.Errorf("saving dedup key: %w", err)
			}
		}
	}
	for _, name := range sortedKeys(p.counters) {
		if _, err := t.exec(sqlSetCounter, p.counters[name], s.cachedID(s.groups, name)); err != nil {
			return fmt.Errorf("updating coverage counter: %w", err)
		}
	}
	return nil
}

const sqlSetCounter = "UPDATE work_distribution_groups SET coverage_counter = ? WHERE id = ?"

// workRow is one submission to insert, with its id once inserted.
type workRow struct {
	w      *collector.QueuedWork
	v      verdict
	typeID int64
	id     int64
	now    int64 // insert date
}

const sqlInsertWork = "INSERT INTO incoming_workload (uuid, type_id, mode, work, has_files, pending, insert_date) VALUES (?,?,?,?,?,?,?)"

// insertWorks inserts the submissions and sets their ids: on SQLite one
// prepared insert per row (no parsing, the id from the insert), on MySQL
// multi-row statements (one round trip per chunk) and their ids read back.
func (s *Store) insertWorks(t wtx, rows []workRow, now int64) error {
	if !s.d.multiRow {
		for i := range rows {
			r := &rows[i]
			res, err := t.exec(sqlInsertWork, r.w.UUID, r.typeID, r.w.Mode, r.w.Payload, r.w.HasFiles, len(r.v.deliver), now)
			if err != nil {
				return fmt.Errorf("inserting submissions: %w", err)
			}
			if r.id, err = res.LastInsertId(); err != nil {
				return fmt.Errorf("inserting submissions: %w", err)
			}
		}
		return nil
	}
	for start, end := 0, 0; start < len(rows); start = end {
		end = insertChunkEnd(rows, start)
		chunk := rows[start:end]
		var sb strings.Builder
		sb.WriteString("INSERT INTO incoming_workload (uuid, type_id, mode, work, has_files, pending, insert_date) VALUES ")
		args := make([]any, 0, len(chunk)*7)
		uuids := make([]string, len(chunk))
		for i, r := range chunk {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?,?,?,?)")
			args = append(args, r.w.UUID, r.typeID, r.w.Mode, r.w.Payload, r.w.HasFiles, len(r.v.deliver), now)
			uuids[i] = r.w.UUID
		}
		if _, err := t.exec(sb.String(), args...); err != nil {
			return fmt.Errorf("inserting submissions: %w", err)
		}
		var ids []struct {
			ID   int64  `db:"id"`
			UUID string `db:"uuid"`
		}
		if err := t.sel(&ids, "SELECT id, uuid FROM incoming_workload WHERE uuid "+inList, uuids); err != nil {
			return fmt.Errorf("reading submission ids: %w", err)
		}
		byUUID := make(map[string]int64, len(ids))
		for _, r := range ids {
			byUUID[r.UUID] = r.ID
		}
		for i := range chunk {
			chunk[i].id = byUUID[chunk[i].w.UUID]
		}
	}
	return nil
}

// sqlInsertDists inserts the delivery states given as one JSON array of
// [group id, work id, skipped, owner] (SQLite); owner is null, or the
// worker the item is handed over to, LOCKED for it (direct.go). Args:
// now (lock time), now, now, the array.
const sqlInsertDists = `INSERT INTO work_distribution (group_id, work_id, status, skipped, lock_uuid, lock_time, next_attempt, updated_at)
	SELECT value ->> 0, value ->> 1,
		CASE WHEN value ->> 2 THEN 'COMPLETED' WHEN value ->> 3 IS NOT NULL THEN 'LOCKED' ELSE 'READY' END,
		value ->> 2, value ->> 3, CASE WHEN value ->> 3 IS NOT NULL THEN ? END, ?, ?
	FROM json_each(?)`

// insertDistribution inserts one delivery state per (submission, group):
// READY to deliver, or COMPLETED and skipped where coverage skipped it.
func (s *Store) insertDistribution(t wtx, rows []workRow, now int64) error {
	type dist struct {
		gid, wid int64
		skipped  bool
		row      int // index in rows
	}
	var dists []dist
	for i, r := range rows {
		for _, g := range r.v.deliver {
			dists = append(dists, dist{s.cachedID(s.groups, g), r.id, false, i})
		}
		for _, g := range r.v.skipped {
			dists = append(dists, dist{s.cachedID(s.groups, g), r.id, true, i})
		}
	}
	status := func(d dist) string {
		if d.skipped {
			return StatusCompleted
		}
		return StatusReady
	}
	if !s.d.multiRow {
		// One statement for every row: [group, work, skipped, owner].
		b := make([]byte, 0, 2+len(dists)*32)
		b = append(b, '[')
		for i, d := range dists {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			b = strconv.AppendInt(b, d.gid, 10)
			b = append(b, ',')
			b = strconv.AppendInt(b, d.wid, 10)
			b = append(b, ',')
			b = strconv.AppendBool(b, d.skipped)
			b = append(b, ',')
			if l := t.handTo(d.gid, d.skipped, rows[d.row]); l != nil {
				b = append(b, l.jowner...)
			} else {
				b = append(b, "null"...)
			}
			b = append(b, ']')
		}
		b = append(b, ']')
		if _, err := t.exec(sqlInsertDists, now, now, now, string(b)); err != nil {
			return fmt.Errorf("inserting work distribution: %w", err)
		}
		return nil
	}
	for start := 0; start < len(dists); start += insertMaxRows {
		chunk := dists[start:min(start+insertMaxRows, len(dists))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO work_distribution (group_id, work_id, status, skipped, next_attempt, updated_at) VALUES ")
		args := make([]any, 0, len(chunk)*6)
		for i, d := range chunk {
			if i > 0 {
				sb.WriteString(",")
			}
			sb.WriteString("(?,?,?,?,?,?)")
			args = append(args, d.gid, d.wid, status(d), d.skipped, now, now)
		}
		if _, err := t.exec(sb.String(), args...); err != nil {
			return fmt.Errorf("inserting work distribution: %w", err)
		}
	}
	return nil
}

// handTo reserves a lane of group gid for the submission of r (not when
// coverage skipped it) and notes the item to hand over once the round
// commits; nil when it is stored READY (see direct.go).
func (t wtx) handTo(gid int64, skipped bool, r workRow) *Lane {
	if skipped || t.r == nil {
		return nil
	}
	l := t.s.reserve(gid)
	if l != nil || (r.w.Sub != nil && t.s.direct.groups[gid] != nil) {
		t.r.hand = append(t.r.hand, handed{lane: l, gid: gid, item: Item{
			WorkID: r.id, UUID: r.w.UUID, Mode: r.w.Mode, Payload: r.w.Payload,
			InsertDate: r.now, Sub: r.w.Sub,
		}})
	}
	return l
}

// Multi-row inserts hold at most insertMaxRows rows and, past the first
// row, insertMaxBytes of payload, so a statement stays well below MySQL's
// max_allowed_packet (16 MiB by default on MariaDB).
const (
	insertMaxRows  = 200
	insertMaxBytes = 4 << 20
)

// insertChunkEnd returns the end of the chunk of rows starting at start.
func insertChunkEnd(rows []workRow, start int) int {
	size := 0
	end := start
	for end < len(rows) && end-start < insertMaxRows {
		size += len(rows[end].w.Payload)
		if end > start && size > insertMaxBytes {
			break
		}
		end++
	}
	return end
}
