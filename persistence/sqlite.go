package persistence

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"

	"github.com/jmoiron/sqlx"
	"modernc.org/sqlite" // pure-Go SQLite driver "sqlite"
)

var sqliteDialect = dialect{
	name:         "sqlite",
	insertIgnore: "INSERT OR IGNORE",
	upsertKey: `INSERT INTO persistence (source_id, permanent, uuid, value, created_at, last_update)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (source_id, uuid) DO UPDATE SET
			last_update = excluded.last_update,
			permanent = excluded.permanent,
			value = CASE WHEN excluded.permanent = 1 OR excluded.value IS NOT NULL THEN excluded.value ELSE persistence.value END`,
	retryable:  noRetry,
	writers:    1,
	roundEvery: sqliteRoundEvery,
	// A retried enqueue is rare; looking for every round's uuids first
	// cost a query per round.
	optimisticEnqueue: true,
	duplicateKey:      sqliteDuplicateKey,
}

// sqliteDuplicateKey: SQLITE_CONSTRAINT_UNIQUE or _PRIMARYKEY.
func sqliteDuplicateKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code() == 2067 || se.Code() == 1555)
}

// ErrLocked means another process already has the embedded store open.
var ErrLocked = errors.New("store is in use by another process")

func (s *Store) openSQLite(ctx context.Context, cfg Config) error {
	if cfg.Path == "" {
		return errors.New("persistence: sqlite store needs a path")
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return fmt.Errorf("persistence: creating %s: %w", filepath.Dir(cfg.Path), err)
	}
	// One daemon per embedded store: a second one would release the
	// first one's claims at start-up. Admin commands (Shared) skip the
	// lock; SQLite itself makes their concurrent access safe.
	if cfg.Shared {
		return s.openSQLiteDB(ctx, cfg)
	}
	lock, err := os.OpenFile(cfg.Path+".lock", os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return fmt.Errorf("persistence: opening lock file: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return fmt.Errorf("persistence: %s: %w", cfg.Path, ErrLocked)
	}
	s.unlock = lock.Close
	// Only the daemon, which holds the lock, keeps the space reserve.
	if s.space, err = newSpaceKeeper(cfg.Path, s.log); err == nil {
		err = s.openSQLiteDB(ctx, cfg)
	}
	if err != nil {
		s.unlock()
		s.unlock, s.space = nil, nil
		return err
	}
	s.startSpace(ctx)
	return nil
}

func (s *Store) openSQLiteDB(ctx context.Context, cfg Config) error {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		// NORMAL: a commit survives a process crash; the writes that
		// must survive a power cut wait for walSyncer's fsync.
		"synchronous(NORMAL)",
		"busy_timeout(10000)",
		"foreign_keys(0)",
	} {
		q.Add("_pragma", p)
	}
	if s.space != nil {
		for _, p := range s.space.pragmas() {
			q.Add("_pragma", p)
		}
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + cfg.Path + "?" + q.Encode()
	db, err := sqlx.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("persistence: opening %s: %w", cfg.Path, err)
	}
	// SQLite serialises writers anyway; one connection avoids SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		if isDamage(err) {
			return damaged(cfg.Path, err)
		}
		return fmt.Errorf("persistence: opening %s: %w", cfg.Path, err)
	}
	var check string
	if err := db.GetContext(ctx, &check, "PRAGMA quick_check"); err != nil || check != "ok" {
		db.Close()
		if err == nil {
			err = errors.New(check)
		}
		return damaged(cfg.Path, fmt.Errorf("integrity check failed: %w", err))
	}
	s.db, s.d = db, sqliteDialect
	return nil
}

// readConns is how many read connections the embedded store keeps beside
// its writer.
const readConns = 4

// openReaders opens the read connections and prepares the writer's
// statements. WAL lets readers run beside the writer, so lookups (the
// next due item, keys, finished work, existing uuids) do not wait for the
// writer's transaction. The writer's statements are prepared here, while
// its connection is free: a transaction of the writer holds the only
// connection, so it could not prepare one then.
func (s *Store) openReaders(ctx context.Context, cfg Config) error {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "query_only(1)"} {
		q.Add("_pragma", p)
	}
	rdb, err := sqlx.Open("sqlite", "file:"+cfg.Path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("persistence: opening %s for reading: %w", cfg.Path, err)
	}
	rdb.SetMaxOpenConns(readConns)
	rdb.SetMaxIdleConns(readConns)
	s.rdb = rdb
	if s.rstmts, err = newStmtCache(ctx, rdb, true, nil); err != nil {
		return err
	}
	var hot []string
	for _, q := range s.writerStatements() {
		q, _, err := s.bind(q, []any{[]int64{}})
		if err != nil {
			return err
		}
		hot = append(hot, q)
	}
	s.wstmts, err = newStmtCache(ctx, s.db, false, hot)
	return err
}

// writerStatements are the statements the writer runs on every round.
func (s *Store) writerStatements() []string {
	out := []string{
		sqlQueuedUUIDs, sqlKnownKeys, s.sqlCounters(), sqlSetCounter, sqlInsertWork, sqlInsertDists, s.d.upsertKey,
		s.claimSQL(), sqlClaimLock, sqlClaimRead,
		sqlHolders, sqlPendingSettle,
		sqlDeleteDist, sqlDeleteWork,
	}
	for _, q := range outcomeSQL {
		out = append(out, q)
	}
	return out
}
