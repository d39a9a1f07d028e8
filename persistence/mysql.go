package persistence

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

var mysqlDialect = dialect{
	name:         "mysql",
	insertIgnore: "INSERT IGNORE",
	forUpdate:    " FOR UPDATE",
	skipLocked:   " FOR UPDATE SKIP LOCKED",
	byPrimaryKey: " FORCE INDEX (PRIMARY)",
	upsertKey: `INSERT INTO persistence (source_id, permanent, uuid, value, created_at, last_update)
		VALUES (?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE
			value = IF(VALUES(permanent) = 1 OR VALUES(value) IS NOT NULL, VALUES(value), value),
			last_update = VALUES(last_update),
			permanent = VALUES(permanent)`,
	// Under READ COMMITTED a SELECT ... FOR UPDATE of a missing key locks
	// nothing, so two instances could both see a dedup key as new. The
	// upsert itself waits on the unique key, and its affected-rows count
	// (1 = inserted, 2 = updated, 0 = unchanged) says whether it was new.
	upsertTellsNew:    true,
	multiRow:          true,
	joinedUpdate:      true,
	optimisticEnqueue: true,
	duplicateKey:      mysqlDuplicateKey,
	writers:           4,
	roundEvery:        mysqlRoundEvery,
	retryable:         mysqlRetryable,
	migrateLock:       mysqlMigrateLock,
}

// MySQL error numbers that mean "the transaction lost a lock race; run it
// again": deadlock and lock wait timeout. ACE retries these too, but
// without a bound (reference/ace.md §10.13); withTx bounds the attempts.
const (
	mysqlErrLockWaitTimeout = 1205
	mysqlErrDeadlock        = 1213
)

// mysqlDuplicateKey: ER_DUP_ENTRY.
func mysqlDuplicateKey(err error) bool {
	var me *mysqldrv.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}

func mysqlRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == mysqlErrDeadlock || me.Number == mysqlErrLockWaitTimeout
	}
	return false
}

// Session settings every pooled connection gets (go-sql-driver sends DSN
// params it does not know as one SET statement when it connects, so they
// also hold after a reconnect).
const (
	mysqlSQLMode         = "'STRICT_ALL_TABLES,NO_ENGINE_SUBSTITUTION'"
	mysqlIsolation       = "'READ-COMMITTED'"
	mysqlLockWaitSeconds = "10"
)

func (s *Store) openMySQL(ctx context.Context, cfg Config) error {
	if cfg.DSN == "" {
		return errors.New("persistence: mysql store needs a DSN")
	}
	db, dbName, err := openMySQL(ctx, cfg.DSN)
	if err != nil {
		return err
	}
	if err := refuseForeignSchema(ctx, db, dbName); err != nil {
		db.Close()
		return err
	}
	s.db, s.rdb, s.d, s.dbName = db, db, mysqlDialect, dbName
	return nil
}

// aceTables are tables of ACE's own databases (its collection queue and
// its main database). The queue's tables share ACE's names, so a store
// pointed at ACE's database would otherwise fail with a raw "table already
// exists" — or worse, mix its rows with ACE's.
var aceTables = []string{"incoming_workload", "work_distribution", "persistence", "alerts", "nodes", "workload"}

// refuseForeignSchema refuses a database that holds ACE's tables but was
// not created by this project (no migration version table).
func refuseForeignSchema(ctx context.Context, db *sqlx.DB, dbName string) error {
	var tables []string
	q, args, err := sqlx.In(`SELECT table_name FROM information_schema.tables
		WHERE table_schema = ? AND table_name IN (?)`, dbName, append([]string{"goose_db_version"}, aceTables...))
	if err != nil {
		return err
	}
	if err := db.SelectContext(ctx, &tables, q, args...); err != nil {
		return fmt.Errorf("persistence: mysql %s: listing tables: %w", dbName, err)
	}
	if len(tables) == 0 || slices.Contains(tables, "goose_db_version") {
		return nil
	}
	sort.Strings(tables)
	return fmt.Errorf("persistence: mysql database %s already holds ACE's tables (%s) and was not created by ace-collector: "+
		"give the collector's queue a database of its own (e.g. CREATE DATABASE ace_collector) and name it in [database_NAME] database",
		dbName, strings.Join(tables, ", "))
}

// OpenMySQL opens a connection pool to a MySQL/MariaDB database with the
// session settings the store uses on every connection: READ COMMITTED (as
// ACE), strict SQL mode, a 10 s lock wait timeout. For databases read
// besides the store, such as ACE's node tables ([database_ace]).
func OpenMySQL(ctx context.Context, dsn string) (*sqlx.DB, error) {
	db, _, err := openMySQL(ctx, dsn)
	return db, err
}

func openMySQL(ctx context.Context, dsn string) (*sqlx.DB, string, error) {
	dc, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		return nil, "", fmt.Errorf("persistence: bad mysql DSN: %w", err)
	}
	if dc.DBName == "" {
		return nil, "", fmt.Errorf("persistence: mysql DSN for %s names no database", dc.Addr)
	}
	where := dc.Addr + "/" + dc.DBName
	dc.ParseTime = false // times are BIGINT unix milliseconds
	// goose splits migration files into single statements itself.
	dc.MultiStatements = false
	// Placeholders are interpolated client side: one round trip per
	// statement instead of prepare + execute + close.
	dc.InterpolateParams = true
	dc.ClientFoundRows = false // the dedup upsert relies on "rows changed"
	if dc.Timeout == 0 {
		dc.Timeout = 10 * time.Second
	}
	isoVar, err := mysqlIsolationVar(ctx, dc)
	if err != nil {
		return nil, "", fmt.Errorf("persistence: connecting to mysql %s: %w", where, err)
	}
	if dc.Params == nil {
		dc.Params = map[string]string{}
	}
	// ACE runs every connection in READ COMMITTED; so do we. MariaDB
	// (before 11.1) only knows tx_isolation, MySQL 8 only
	// transaction_isolation: the probe picked the one this server has.
	dc.Params[isoVar] = mysqlIsolation
	dc.Params["sql_mode"] = mysqlSQLMode
	if _, ok := dc.Params["innodb_lock_wait_timeout"]; !ok {
		dc.Params["innodb_lock_wait_timeout"] = mysqlLockWaitSeconds
	}
	conn, err := mysqldrv.NewConnector(dc)
	if err != nil {
		return nil, "", fmt.Errorf("persistence: mysql %s: %w", where, err)
	}
	db := sqlx.NewDb(sql.OpenDB(conn), "mysql")
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxLifetime(5 * time.Minute) // below any server wait_timeout
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, "", fmt.Errorf("persistence: connecting to mysql %s: %w", where, err)
	}
	return db, dc.DBName, nil
}

// mysqlIsolationVar returns the name of the session isolation variable the
// server knows: transaction_isolation (MySQL ≥ 5.7.20, MariaDB ≥ 11.1) or
// tx_isolation (MariaDB 10.x, old MySQL).
func mysqlIsolationVar(ctx context.Context, dc *mysqldrv.Config) (string, error) {
	probe := dc.Clone()
	probe.Params = nil
	conn, err := mysqldrv.NewConnector(probe)
	if err != nil {
		return "", err
	}
	db := sql.OpenDB(conn)
	defer db.Close()
	db.SetMaxOpenConns(1)
	var v string
	err = db.QueryRowContext(ctx, "SELECT @@SESSION.transaction_isolation").Scan(&v)
	if err == nil {
		return "transaction_isolation", nil
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) && me.Number == 1193 { // unknown system variable
		if err := db.QueryRowContext(ctx, "SELECT @@SESSION.tx_isolation").Scan(&v); err != nil {
			return "", fmt.Errorf("reading the isolation level: %w", err)
		}
		return "tx_isolation", nil
	}
	return "", err
}

// mysqlMigrateLock serialises schema migrations of one database between
// instances starting at the same time (GET_LOCK is server wide, so the
// lock name is derived from the database name).
func mysqlMigrateLock(ctx context.Context, db *sqlx.DB, dbName string) (func(), error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("persistence: taking the migration lock: %w", err)
	}
	h := sha256.Sum256([]byte(dbName))
	name := "ace-collector-migrate-" + hex.EncodeToString(h[:12])
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 120)", name).Scan(&got); err != nil {
		conn.Close()
		return nil, fmt.Errorf("persistence: taking the migration lock: %w", err)
	}
	if !got.Valid || got.Int64 != 1 {
		conn.Close()
		return nil, errors.New("persistence: another instance held the migration lock for 120 s")
	}
	return func() {
		// Closing the session releases the lock even if this fails.
		conn.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", name)
		conn.Close()
	}, nil
}
