package persistence

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite"
)

// ErrDamaged marks an embedded database that cannot be opened or fails its
// integrity check. The backlog in it is not lost: Recover salvages it.
var ErrDamaged = errors.New("embedded store is damaged")

// RecoverHint is how the daemon tells an operator to repair a damaged store.
const RecoverHint = "stop any daemon using it and run `ace-collector recover -c CONFIG` (the same -c files as run): " +
	"it moves the damaged file aside and copies every readable record into a fresh database; nothing is deleted"

// isDamage reports whether err is SQLite saying the file is corrupt or not
// a database at all.
func isDamage(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return true
		}
	}
	return false
}

// damaged wraps an open or integrity-check failure of path with ErrDamaged
// and the recovery hint.
func damaged(path string, err error) error {
	return fmt.Errorf("persistence: %s: %w: %w; %s", path, ErrDamaged, err, RecoverHint)
}

// RecoverOptions configure Recover.
type RecoverOptions struct {
	Path string // the SQLite database file
	// Groups are the enabled collection groups: a submission whose every
	// delivery state was lost is queued READY for each of them again.
	Groups []string
	Logger *slog.Logger
	Now    func() time.Time
}

// TableSalvage is what Recover copied from one table.
type TableSalvage struct {
	Table    string
	Copied   int64
	Lost     int64 // row ids in unreadable pages or rows that failed to decode (an upper bound)
	Problems []string
}

// RecoverReport says what Recover did.
type RecoverReport struct {
	DamagedPath string // where the damaged database now is
	// OpenError is set when the damaged file could not be read at all.
	OpenError string
	Tables    []TableSalvage
	// Requeued: delivery states that were lost and re-created READY
	// (those submissions may be delivered twice).
	Requeued int64
	// Stateless: submissions left with no delivery state because no
	// configured group applies; kept (never cleaned up), not delivered.
	Stateless int64
	// Dangling: delivery states whose submission was lost, dropped.
	Dangling int64
	// Unlocked: claims of the dead daemon put back to READY.
	Unlocked int64
}

// Lost is the total of rows Recover could not copy.
func (r *RecoverReport) Lost() int64 {
	var n int64
	for _, t := range r.Tables {
		n += t.Lost
	}
	return n
}

// table describes how to copy one table: its columns, first the row id.
type table struct {
	name string
	cols []string
}

// Order matters: name tables before the rows that refer to them.
var salvageTables = []table{
	{"incoming_workload_type", []string{"id", "name"}},
	{"work_distribution_groups", []string{"id", "name", "coverage_counter"}},
	{"persistence_source", []string{"id", "name"}},
	{"incoming_workload", []string{"id", "uuid", "type_id", "mode", "work", "has_files", "pending", "insert_date"}},
	{"work_distribution", []string{"group_id", "work_id", "status", "skipped", "parked", "lock_uuid", "lock_time",
		"attempts", "next_attempt", "last_error", "updated_at"}},
	{"persistence", []string{"id", "source_id", "permanent", "uuid", "value", "created_at", "last_update"}},
}

// salvageChunk is how many row ids one read covers; a read that fails is
// split until the unreadable row ids are isolated.
const salvageChunk = 512

// Recover moves a damaged SQLite store (and its -wal and -shm files) aside
// to PATH.damaged-TIMESTAMP, creates a fresh store at PATH and copies every
// row it can still read into it. It takes the store's lock, so it refuses
// to run while a daemon has the store open. Nothing is deleted: the damaged
// file stays for inspection.
func Recover(ctx context.Context, o RecoverOptions) (*RecoverReport, error) {
	if o.Path == "" {
		return nil, errors.New("persistence: recover needs the database path")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if _, err := os.Stat(o.Path); err != nil {
		return nil, fmt.Errorf("persistence: recover: %w", err)
	}
	lock, err := os.OpenFile(o.Path+".lock", os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("persistence: opening lock file: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, fmt.Errorf("persistence: %s: %w (stop the daemon first)", o.Path, ErrLocked)
	}

	rep := &RecoverReport{DamagedPath: o.Path + ".damaged-" + o.Now().UTC().Format("20060102T150405Z")}
	// The fresh store is built beside the damaged one and swapped in at
	// the end, so an interrupted recover leaves the damaged store where
	// it was and can simply be run again.
	fresh := o.Path + ".recovering"
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(fresh + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("persistence: removing an interrupted recovery: %w", err)
		}
	}
	if err := salvage(ctx, o, fresh, rep); err != nil {
		return nil, err
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		err := os.Rename(o.Path+suffix, rep.DamagedPath+suffix)
		if err != nil && !(suffix != "" && errors.Is(err, os.ErrNotExist)) {
			return nil, fmt.Errorf("persistence: moving the damaged store aside: %w", err)
		}
	}
	if err := os.Rename(fresh, o.Path); err != nil {
		return nil, fmt.Errorf("persistence: putting the recovered store in place: %w", err)
	}
	if err := syncDir(filepath.Dir(o.Path)); err != nil {
		return nil, err
	}
	o.Logger.Warn("damaged store moved aside and replaced by the salvaged one", "path", o.Path, "damaged", rep.DamagedPath)
	return rep, nil
}

// salvage creates the store at fresh and copies what it can read from
// o.Path into it.
func salvage(ctx context.Context, o RecoverOptions, fresh string, rep *RecoverReport) error {
	dst, err := Open(ctx, Config{Path: fresh, Shared: true, Logger: o.Logger, Now: o.Now})
	if err != nil {
		return fmt.Errorf("persistence: creating the fresh store: %w", err)
	}
	defer dst.Close()
	// writable_schema lets SQLite read a file shorter than its header
	// says (a truncated file); nothing is ever written to it.
	src, err := sqlx.Open("sqlite", "file:"+o.Path+
		"?_pragma=busy_timeout(10000)&_pragma=foreign_keys(0)&_pragma=writable_schema(1)")
	if err == nil {
		src.SetMaxOpenConns(1)
		defer src.Close()
		err = src.PingContext(ctx)
	}
	if err != nil {
		rep.OpenError = err.Error()
		o.Logger.Error("the damaged store cannot be read at all; the fresh store is empty", "error", err)
		return nil
	}
	for _, t := range salvageTables {
		ts := salvageTable(ctx, src, dst.db, t, o.Logger)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		rep.Tables = append(rep.Tables, ts)
	}
	if err := repair(ctx, dst, o.Groups, rep); err != nil {
		return err
	}
	if err := src.Close(); err != nil {
		return fmt.Errorf("persistence: closing the damaged store: %w", err)
	}
	return dst.Close()
}

// syncDir makes renames in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("persistence: syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("persistence: syncing %s: %w", dir, err)
	}
	return nil
}

// salvageTable copies t from src to dst in row id ranges.
func salvageTable(ctx context.Context, src, dst *sqlx.DB, t table, log *slog.Logger) TableSalvage {
	ts := TableSalvage{Table: t.name}
	lo, hi, err := rowidBounds(ctx, src, dst, t.name)
	if err != nil {
		ts.Problems = append(ts.Problems, fmt.Sprintf("row id range unreadable, nothing copied: %v", err))
		log.Error("salvage: table unreadable", "table", t.name, "error", err)
		return ts
	}
	if hi < lo {
		return ts // empty
	}
	sel := "SELECT " + strings.Join(t.cols, ", ") + " FROM " + t.name + " WHERE rowid >= ? AND rowid < ? ORDER BY rowid"
	ins := "INSERT OR IGNORE INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES (" +
		strings.TrimSuffix(strings.Repeat("?,", len(t.cols)), ",") + ")"
	var copyRange func(a, b int64)
	copyRange = func(a, b int64) {
		if ctx.Err() != nil {
			return
		}
		rows, err := readRange(ctx, src, sel, len(t.cols), a, b)
		if err != nil {
			if b-a == 1 {
				ts.Lost++
				if len(ts.Problems) < 20 {
					ts.Problems = append(ts.Problems, fmt.Sprintf("row id %d: %v", a, err))
				}
				return
			}
			mid := a + (b-a)/2
			copyRange(a, mid)
			copyRange(mid, b)
			return
		}
		if len(rows) == 0 {
			return
		}
		tx, err := dst.BeginTxx(ctx, nil)
		if err != nil {
			ts.Lost += int64(len(rows))
			ts.Problems = append(ts.Problems, fmt.Sprintf("writing rows: %v", err))
			return
		}
		var copied int64
		for _, r := range rows {
			if _, err := tx.ExecContext(ctx, ins, r...); err != nil {
				ts.Lost++
				if len(ts.Problems) < 20 {
					ts.Problems = append(ts.Problems, fmt.Sprintf("writing a row: %v", err))
				}
				continue
			}
			copied++
		}
		if err := tx.Commit(); err != nil {
			ts.Lost += copied
			ts.Problems = append(ts.Problems, fmt.Sprintf("writing rows: %v", err))
			return
		}
		ts.Copied += copied
	}
	for a := lo; a <= hi; a += salvageChunk {
		copyRange(a, min(a+salvageChunk, hi+1))
	}
	log.Info("salvage: table copied", "table", t.name, "copied", ts.Copied, "lost", ts.Lost)
	return ts
}

// rowidBounds finds the row id range of a table: from the table itself or,
// when its edges are unreadable, from sqlite_sequence (AUTOINCREMENT
// tables) or, for delivery states, from the highest submission id times
// the number of groups (each submission added at most one row per group).
func rowidBounds(ctx context.Context, src, dst *sqlx.DB, name string) (lo, hi int64, err error) {
	var b struct {
		Lo, Hi *int64
	}
	err = src.QueryRowxContext(ctx, "SELECT MIN(rowid), MAX(rowid) FROM "+name).Scan(&b.Lo, &b.Hi)
	if err == nil {
		if b.Lo == nil {
			return 1, 0, nil
		}
		return *b.Lo, *b.Hi, nil
	}
	seqOf := func(table string) (int64, bool) {
		var seq int64
		return seq, src.GetContext(ctx, &seq, "SELECT seq FROM sqlite_sequence WHERE name = ?", table) == nil
	}
	if seq, ok := seqOf(name); ok {
		return 1, seq, nil
	}
	if name == "work_distribution" {
		var groups int64
		if seq, ok := seqOf("incoming_workload"); ok &&
			dst.GetContext(ctx, &groups, "SELECT COUNT(*) FROM work_distribution_groups") == nil {
			return 1, seq * max(groups, 1), nil
		}
	}
	return 0, 0, err
}

// readRange reads every row with a row id in [a, b); any error fails the
// whole range, so a partially read range is never half copied.
func readRange(ctx context.Context, db *sqlx.DB, q string, ncol int, a, b int64) ([][]any, error) {
	rows, err := db.QueryContext(ctx, q, a, b)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, ncol)
		ptrs := make([]any, ncol)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}
