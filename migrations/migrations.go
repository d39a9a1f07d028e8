// Package migrations holds the versioned SQL schema of the collection store,
// one directory per dialect, embedded into the binary and applied with goose
// on start-up (or by `ace-collector migrate`).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"

	"github.com/pressly/goose/v3"
)

//go:embed sqlite/*.sql mysql/*.sql
var files embed.FS

// Dialects supported by the store.
const (
	SQLite = "sqlite"
	MySQL  = "mysql"
)

func provider(db *sql.DB, dialect string) (*goose.Provider, error) {
	var d goose.Dialect
	switch dialect {
	case SQLite:
		d = goose.DialectSQLite3
	case MySQL:
		d = goose.DialectMySQL
	default:
		return nil, fmt.Errorf("migrations: unknown dialect %q", dialect)
	}
	sub, err := fs.Sub(files, dialect)
	if err != nil {
		return nil, fmt.Errorf("migrations: %s: %w", dialect, err)
	}
	return goose.NewProvider(d, db, sub, goose.WithDisableGlobalRegistry(true))
}

// Up applies every pending migration and returns the resulting version.
func Up(ctx context.Context, db *sql.DB, dialect string) (int64, error) {
	p, err := provider(db, dialect)
	if err != nil {
		return 0, err
	}
	if _, err := p.Up(ctx); err != nil {
		return 0, fmt.Errorf("migrations: applying %s schema: %w", dialect, err)
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: reading %s schema version: %w", dialect, err)
	}
	return v, nil
}

// Status reports the current and the newest available schema version.
func Status(ctx context.Context, db *sql.DB, dialect string) (current, latest int64, err error) {
	p, err := provider(db, dialect)
	if err != nil {
		return 0, 0, err
	}
	current, err = p.GetDBVersion(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("migrations: reading %s schema version: %w", dialect, err)
	}
	srcs := p.ListSources()
	if n := len(srcs); n > 0 {
		latest = srcs[n-1].Version
	}
	return current, latest, nil
}
