package persistence

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"

	"github.com/jmoiron/sqlx"
)

// Check reports whether the embedded store at path is healthy: nil when
// SQLite's integrity_check passes, an error wrapping ErrDamaged when it
// does not or the file cannot be read as a database. It changes nothing
// (the file is opened read-only) and may run beside a daemon.
func Check(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("persistence: checking %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sqlx.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("persistence: checking %s: %w", path, err)
	}
	defer db.Close()
	var rows []string
	if err := db.SelectContext(ctx, &rows, "PRAGMA integrity_check(20)"); err != nil {
		if isDamage(err) {
			return damaged(path, err)
		}
		return fmt.Errorf("persistence: checking %s: %w", path, err)
	}
	if len(rows) != 1 || rows[0] != "ok" {
		return damaged(path, fmt.Errorf("integrity check failed: %w", errors.New(joinLines(rows))))
	}
	return nil
}

func joinLines(rows []string) string {
	s := ""
	for i, r := range rows {
		if i > 0 {
			s += "; "
		}
		s += r
	}
	return s
}
