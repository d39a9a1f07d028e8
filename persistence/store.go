// Package persistence is the durable store of ace-collector: the submission
// queue with per-group delivery state, and persistence keys (dedup keys,
// offsets, bookmarks, last-run times) with ACE's permanent/volatile expiry.
// One implementation of SQL over sqlx serves two dialects: an embedded
// SQLite database (the default, zero setup) and MySQL/MariaDB for several
// collector instances sharing one queue.
package persistence

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/ace-collector/ace-collector/migrations"
)

// Delivery states of a (submission, group) pair.
const (
	StatusReady     = "READY"
	StatusLocked    = "LOCKED"
	StatusCompleted = "COMPLETED"
	StatusError     = "ERROR"
)

// GroupTarget is a group a submission is distributed to, with the group's
// coverage percentage (decided once, at enqueue, and recorded).
type GroupTarget struct {
	Name     string
	Coverage int
}

// Work is one submission to enqueue.
type Work struct {
	UUID     string
	Type     string // workload type: the collector that produced it
	Mode     string // analysis mode
	Payload  []byte // the submission as JSON
	HasFiles bool
	Groups   []GroupTarget
	// DedupSource/DedupKey, when set, make Enqueue skip the work if the key
	// is already remembered for the source, and remember it otherwise, in
	// the same transaction as the insert.
	DedupSource string
	DedupKey    string
}

// EnqueueResult says what Enqueue did.
type EnqueueResult struct {
	Duplicate bool     // dedup key already known: nothing was inserted
	Skipped   []string // groups that coverage decided not to deliver to
}

// Item is a claimed (submission, group) pair.
type Item struct {
	WorkID   int64  `db:"id"`
	UUID     string `db:"uuid"`
	Mode     string `db:"mode"`
	Payload  []byte `db:"work"`
	Attempts int    `db:"attempts"`
	// InsertDate is when the submission was stored (unix milliseconds).
	InsertDate int64 `db:"insert_date"`
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

// Finished is a submission whose groups are all terminal.
type Finished struct {
	WorkID   int64  `db:"id"`
	UUID     string `db:"uuid"`
	HasFiles bool   `db:"has_files"`
}

// Config selects and configures a backend.
type Config struct {
	Driver string // "sqlite" (default) or "mysql"
	// Path of the SQLite database file (Driver sqlite).
	Path string
	// Shared skips the embedded store's single-daemon lock (admin commands).
	Shared bool
	// DSN for go-sql-driver/mysql (Driver mysql).
	DSN string
	// MaxBatch bounds how many enqueues one group commit writes.
	MaxBatch int
	Logger   *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
}

// Store is the durable queue and key store.
type Store struct {
	db     *sqlx.DB
	d      dialect
	log    *slog.Logger
	now    func() time.Time
	commit *committer
	unlock func() error
	dbName string       // MySQL database name
	space  *spaceKeeper // embedded store of the daemon: the disk-full reserve

	mu      sync.Mutex
	changed chan struct{}
	groups  map[string]int64
	types   map[string]int64
	sources map[string]int64
}

// Open opens (creating if needed) the store and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	s := &Store{
		log:     cfg.Logger,
		now:     cfg.Now,
		changed: make(chan struct{}),
		groups:  map[string]int64{},
		types:   map[string]int64{},
		sources: map[string]int64{},
	}
	var err error
	switch cfg.Driver {
	case "", "sqlite":
		err = s.openSQLite(ctx, cfg)
	case "mysql":
		err = s.openMySQL(ctx, cfg)
	default:
		err = fmt.Errorf("persistence: unknown driver %q (want sqlite or mysql)", cfg.Driver)
	}
	if err != nil {
		return nil, err
	}
	if s.d.migrateLock != nil {
		release, err := s.d.migrateLock(ctx, s.db, s.dbName)
		if err != nil {
			s.Close()
			return nil, err
		}
		_, err = migrations.Up(ctx, s.db.DB, s.d.name)
		release()
		if err != nil {
			s.Close()
			return nil, err
		}
	} else if _, err := migrations.Up(ctx, s.db.DB, s.d.name); err != nil {
		s.Close()
		return nil, err
	}
	s.commit = newCommitter(s, cfg.MaxBatch)
	return s, nil
}

// Close stops the committer and closes the database.
func (s *Store) Close() error {
	if s.commit != nil {
		s.commit.stop()
	}
	var err error
	if s.db != nil {
		s.closeSpace()
		err = s.db.Close()
	}
	if s.unlock != nil {
		if uerr := s.unlock(); err == nil {
			err = uerr
		}
	}
	return err
}

// DB exposes the database handle (for migrate/status commands and tests).
func (s *Store) DB() *sqlx.DB { return s.db }

// Dialect is "sqlite" or "mysql".
func (s *Store) Dialect() string { return s.d.name }

// Changed returns a channel closed at the next commit that added work or
// released work, so delivery workers wake without polling.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func (s *Store) signal() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Store) nowMs() int64 { return s.now().UnixMilli() }

// txAttempts bounds how often a transaction that lost a lock race
// (MySQL deadlock or lock wait timeout) is run again.
const txAttempts = 5

// retryWait is the pause before attempt+1: growing, with jitter so that
// two instances that deadlocked do not collide again in lockstep.
func retryWait(attempt int) time.Duration {
	base := time.Duration(attempt+1) * 20 * time.Millisecond
	return base + rand.N(base)
}

// withTx runs fn in a transaction, retrying when the dialect says the error
// is transient (MySQL deadlocks and lock wait timeouts), at most txAttempts
// times.
func (s *Store) withTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() { err = s.noteFull(err) }()
	for attempt := 0; attempt < txAttempts; attempt++ {
		err = s.tryTx(ctx, fn)
		if s.releaseReserve(err) {
			err = s.tryTx(ctx, fn) // the disk was full: now there is room
		}
		if err == nil || !s.d.retryable(err) {
			return err
		}
		s.log.Debug("retrying transaction", "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(retryWait(attempt)):
		}
	}
	return err
}

// exec runs one autocommitted statement with the same bounded retry.
func (s *Store) exec(ctx context.Context, q string, args ...any) (_ sql.Result, err error) {
	defer func() { err = s.noteFull(err) }()
	for attempt := 0; attempt < txAttempts; attempt++ {
		var res sql.Result
		res, err = s.db.ExecContext(ctx, q, args...)
		if s.releaseReserve(err) {
			res, err = s.db.ExecContext(ctx, q, args...) // now there is room
		}
		if err == nil || !s.d.retryable(err) {
			return res, err
		}
		s.log.Debug("retrying statement", "attempt", attempt+1, "error", err)
		select {
		case <-ctx.Done():
			return nil, errors.Join(err, ctx.Err())
		case <-time.After(retryWait(attempt)):
		}
	}
	return nil, err
}

// durableTx runs fn in a transaction that is on disk when it returns. On
// SQLite the connection runs with synchronous=NORMAL (WAL: a commit survives
// a process crash but not a power loss) and only this transaction, used for
// enqueues and the cleanup barrier, runs with synchronous=FULL, which also
// makes every earlier commit durable. Claims, outcomes and keys lost to a
// power cut only cause re-delivery, never loss, so they skip the fsync.
func (s *Store) durableTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() { err = s.noteFull(err) }() // runs last: the connection is back
	if s.d.name != "sqlite" {
		return s.withTx(ctx, fn)
	}
	conn, err := s.db.Connx(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=FULL"); err != nil {
		return fmt.Errorf("setting synchronous=FULL: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "PRAGMA synchronous=NORMAL")
	tx, err := conn.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// syncBarrier makes every commit so far durable (SQLite; MySQL commits are
// durable already): a one-row durable write.
func (s *Store) syncBarrier(ctx context.Context) error {
	if s.d.name != "sqlite" {
		return nil
	}
	src, err := s.SourceID(ctx, "_store")
	if err != nil {
		return err
	}
	now := s.nowMs()
	return s.durableTx(ctx, func(tx *sqlx.Tx) error {
		_, err := tx.ExecContext(ctx, s.d.upsertKey, src, 1, "durability_barrier", []byte("1"), now, now)
		return err
	})
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// idFor returns the id of name in a (id, name) table, creating the row.
func (s *Store) idFor(ctx context.Context, q sqlx.ExtContext, cache map[string]int64, table, name string) (int64, error) {
	s.mu.Lock()
	id, ok := cache[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := q.ExecContext(ctx, s.d.insertIgnore+" INTO "+table+" (name) VALUES (?)", name); err != nil {
		return 0, fmt.Errorf("registering %s %q: %w", table, name, err)
	}
	if err := sqlx.GetContext(ctx, q, &id, "SELECT id FROM "+table+" WHERE name = ?", name); err != nil {
		return 0, fmt.Errorf("looking up %s %q: %w", table, name, err)
	}
	s.mu.Lock()
	cache[name] = id
	s.mu.Unlock()
	return id, nil
}

// GroupID returns (creating) the id of a work distribution group.
func (s *Store) GroupID(ctx context.Context, name string) (int64, error) {
	return s.idFor(ctx, s.db, s.groups, "work_distribution_groups", name)
}
