// Package persistence is the durable store of ace-collector: the submission
// queue with per-group delivery state, and persistence keys (dedup keys,
// offsets, bookmarks, last-run times) with ACE's permanent/volatile expiry.
// One implementation of SQL over sqlx serves two dialects: an embedded
// SQLite database (the default, zero setup) and MySQL/MariaDB for several
// collector instances sharing one queue.
//
// The store is the core's queue: it implements collector.Queue (enqueue,
// cleanup, keys) with the core's types, and the delivery side that
// package groups uses (claim, finish). Files are named for who calls
// them: enqueue.go (the runtime's Submit), delivery.go (the groups'
// workers), cleanup.go (the runtime's cleanup loop), admin.go (the CLI),
// keys.go (collectors' state). Every queue write goes through one writer
// (writer.go), which merges what is waiting into one transaction.
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

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/migrations"
)

// Delivery states of a (submission, group) pair.
const (
	StatusReady     = "READY"
	StatusLocked    = "LOCKED"
	StatusCompleted = "COMPLETED"
	StatusError     = "ERROR"
)

// Config selects and configures a backend.
type Config struct {
	Driver string // "sqlite" (default) or "mysql"
	// Path of the SQLite database file (Driver sqlite).
	Path string
	// Shared skips the embedded store's single-daemon lock (admin commands).
	Shared bool
	// DSN for go-sql-driver/mysql (Driver mysql).
	DSN string
	// MaxBatch bounds how many writes (enqueues, claims, outcomes,
	// deletes) one transaction of the writer takes.
	MaxBatch int
	Logger   *slog.Logger
	// Now is the clock; tests may replace it.
	Now func() time.Time
	// Cleaned, if set, is told how many submissions the store deleted as
	// their last outcome was recorded (no files, every group done): the
	// runtime's cleanup loop never sees those.
	Cleaned func(n int)
}

// Store is the durable queue and key store.
type Store struct {
	// db writes; on SQLite it is the one connection that writes.
	db *sqlx.DB
	// rdb reads: on SQLite a pool of read-only connections beside the
	// writer (WAL readers do not wait for it), on MySQL the same pool.
	rdb *sqlx.DB
	d   dialect
	log *slog.Logger
	now func() time.Time
	w   *writer
	// sync makes the embedded store's commits durable for the writes
	// that need it (nil on MySQL, whose commits are durable).
	sync   *walSyncer
	unlock func() error
	dbName string       // MySQL database name
	space  *spaceKeeper // embedded store of the daemon: the disk-full reserve
	// wstmts and rstmts hold statements prepared once per connection
	// (SQLite); nil on MySQL, whose placeholders are interpolated client
	// side (a server-side prepare would cost a round trip of its own).
	wstmts *stmtCache
	rstmts *stmtCache

	direct    directSet // lanes of workers taking work handed over (direct.go)
	onCleaned func(n int)

	mu      sync.Mutex
	changed chan struct{}
	groups  map[string]int64
	types   map[string]int64
	sources map[string]int64
}

var (
	_ collector.Queue          = (*Store)(nil)
	_ collector.SubmissionUser = (*Store)(nil)
)

// Open opens (creating if needed) the store and applies migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 1024
	}
	s := &Store{
		log:       cfg.Logger,
		now:       cfg.Now,
		onCleaned: cfg.Cleaned,
		changed:   make(chan struct{}),
		groups:    map[string]int64{},
		types:     map[string]int64{},
		sources:   map[string]int64{},
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
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.d.name == "sqlite" {
		if err := s.openReaders(ctx, cfg); err != nil {
			s.Close()
			return nil, err
		}
		s.sync = newWALSyncer(cfg.Path)
	}
	s.w = newWriter(s, cfg.MaxBatch, s.d.writers)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if s.d.migrateLock == nil {
		_, err := migrations.Up(ctx, s.db.DB, s.d.name)
		return err
	}
	release, err := s.d.migrateLock(ctx, s.db, s.dbName)
	if err != nil {
		return err
	}
	defer release()
	_, err = migrations.Up(ctx, s.db.DB, s.d.name)
	return err
}

// Close stops the writer and closes the database.
func (s *Store) Close() error {
	if s.w != nil {
		s.w.stop()
	}
	if s.sync != nil {
		s.sync.stop() // after the writer: it acknowledges the writer's last commits
	}
	var err error
	if s.rdb != nil && s.rdb != s.db {
		s.rstmts.close()
		err = s.rdb.Close()
	}
	if s.db != nil {
		s.wstmts.close()
		s.closeSpace()
		err = errors.Join(err, s.db.Close())
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
// times. A write that finds the disk full while the reserve is held
// releases it and runs once more.
func (s *Store) withTx(ctx context.Context, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() { err = s.noteFull(err) }()
	return s.retrying(ctx, true, func() error { return s.tryTx(ctx, fn) })
}

// retrying runs try until it succeeds, fails for good or has failed
// txAttempts times with a transient error. With useReserve, a full disk
// releases the reserve and try runs once more at once.
func (s *Store) retrying(ctx context.Context, useReserve bool, try func() error) (err error) {
	for attempt := 0; attempt < txAttempts; attempt++ {
		err = try()
		if useReserve && s.releaseReserve(err) {
			err = try() // the disk was full: now there is room
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
func (s *Store) exec(ctx context.Context, q string, args ...any) (res sql.Result, err error) {
	defer func() { err = s.noteFull(err) }()
	err = s.retrying(ctx, true, func() error {
		var e error
		res, e = s.db.ExecContext(ctx, q, args...)
		return e
	})
	return res, err
}

// writeTx runs fn in a transaction with withTx's retries; useReserve
// says whether a full disk may release the reserve and run it again (not
// for enqueues, which a full disk refuses).
func (s *Store) writeTx(ctx context.Context, useReserve bool, fn func(tx *sqlx.Tx) error) (err error) {
	defer func() { err = s.noteFull(err) }() // runs last: the connection is back
	return s.retrying(ctx, useReserve, func() error { return s.tryTx(ctx, fn) })
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
// It writes outside the writer, so it must not run inside a transaction
// of the (single-connection) embedded store: callers resolve names before
// they hand work to the writer.
func (s *Store) idFor(ctx context.Context, cache map[string]int64, table, name string) (int64, error) {
	s.mu.Lock()
	id, ok := cache[name]
	s.mu.Unlock()
	if ok {
		return id, nil
	}
	if _, err := s.exec(ctx, s.d.insertIgnore+" INTO "+table+" (name) VALUES (?)", name); err != nil {
		return 0, fmt.Errorf("registering %s %q: %w", table, name, err)
	}
	if err := s.db.GetContext(ctx, &id, "SELECT id FROM "+table+" WHERE name = ?", name); err != nil {
		return 0, fmt.Errorf("looking up %s %q: %w", table, name, err)
	}
	s.mu.Lock()
	cache[name] = id
	s.mu.Unlock()
	return id, nil
}

func (s *Store) cachedID(cache map[string]int64, name string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cache[name]
}

// GroupID returns (creating) the id of a work distribution group.
func (s *Store) GroupID(ctx context.Context, name string) (int64, error) {
	return s.idFor(ctx, s.groups, "work_distribution_groups", name)
}
