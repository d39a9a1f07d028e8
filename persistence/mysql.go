package persistence

import (
	"context"
	"errors"
	"fmt"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
)

var mysqlDialect = dialect{
	name:         "mysql",
	insertIgnore: "INSERT IGNORE",
	forUpdate:    " FOR UPDATE",
	skipLocked:   " FOR UPDATE SKIP LOCKED",
	upsertKey: `INSERT INTO persistence (source_id, permanent, uuid, value, created_at, last_update)
		VALUES (?, ?, ?, ?, ?, ?)
		ON DUPLICATE KEY UPDATE
			value = IF(VALUES(permanent) = 1 OR VALUES(value) IS NOT NULL, VALUES(value), value),
			last_update = VALUES(last_update),
			permanent = VALUES(permanent)`,
	retryable: mysqlRetryable,
}

// mysqlRetryable: deadlock (1213) and lock wait timeout (1205) are retried,
// as ACE's execute_with_retry does, but with a bound.
func mysqlRetryable(err error) bool {
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	return false
}

func (s *Store) openMySQL(ctx context.Context, cfg Config) error {
	if cfg.DSN == "" {
		return errors.New("persistence: mysql store needs a DSN")
	}
	dc, err := mysqldrv.ParseDSN(cfg.DSN)
	if err != nil {
		return fmt.Errorf("persistence: bad mysql DSN: %w", err)
	}
	dc.ParseTime = false
	dc.MultiStatements = true // goose runs multi-statement migration files
	db, err := sqlx.Open("mysql", dc.FormatDSN())
	if err != nil {
		return fmt.Errorf("persistence: opening mysql %s/%s: %w", dc.Addr, dc.DBName, err)
	}
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("persistence: connecting to mysql %s/%s: %w", dc.Addr, dc.DBName, err)
	}
	s.db, s.d = db, mysqlDialect
	return nil
}
