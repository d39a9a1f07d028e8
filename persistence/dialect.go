package persistence

import (
	"context"
	"time"

	"github.com/jmoiron/sqlx"
)

// dialect holds the few places where SQLite and MySQL SQL differ.
type dialect struct {
	name         string
	insertIgnore string // "INSERT OR IGNORE" / "INSERT IGNORE"
	// forUpdate locks rows read inside a transaction (MySQL); SQLite
	// transactions are already serialised.
	forUpdate string
	// skipLocked makes concurrent claimers skip each other's rows.
	skipLocked string
	// upsertKey inserts a persistence row or, when it exists, refreshes
	// last_update (and the value for permanent keys). Args: source_id,
	// permanent, uuid, value, created_at, last_update.
	upsertKey string
	// byPrimaryKey follows "work_distribution" where a locking statement
	// must walk the primary key: MySQL may otherwise pick a secondary
	// index (say (status, lock_time)) and lock other owners' rows on the
	// way, which deadlocks concurrent finishers.
	byPrimaryKey string
	// upsertTellsNew: upsertKey's affected-rows count is 1 exactly when it
	// inserted a new row (MySQL), so dedup needs no separate lookup.
	upsertTellsNew bool
	// multiRow: rows are inserted many per statement (MySQL: a statement
	// costs a round trip); otherwise one prepared statement per row
	// (SQLite: no round trip, and a statement of fixed text is not parsed
	// again).
	multiRow bool
	// joinedUpdate: outcomes and pending counts are written by one
	// multi-table UPDATE per Finish call (MySQL), rather than a read of
	// the claims still held and shared UPDATEs (SQLite, which has no
	// UPDATE … JOIN and no round trips).
	joinedUpdate bool
	// optimisticEnqueue: a round inserts without first looking for uuids
	// already queued, and looks only when the insert hits one (MySQL:
	// saves a round trip per round; the case is rare, a retried enqueue).
	optimisticEnqueue bool
	// duplicateKey reports an insert refused by a unique key.
	duplicateKey func(error) bool
	// writers is how many transactions the writer runs at once.
	writers int
	// roundEvery: see writer.go.
	roundEvery time.Duration
	retryable  func(error) bool
	// migrateLock, when set, serialises migrations between processes
	// sharing the database; it returns the release function.
	migrateLock func(ctx context.Context, db *sqlx.DB, dbName string) (func(), error)
}

func noRetry(error) bool { return false }
