package persistence

import (
	"errors"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite"
)

// fullError is a database error that means the disk (or table space) is
// full. It unwraps to syscall.ENOSPC as well as to the original error, so
// callers that import no backend can recognise the condition.
type fullError struct{ err error }

func (e *fullError) Error() string   { return e.err.Error() }
func (e *fullError) Unwrap() []error { return []error{e.err, syscall.ENOSPC} }

// diskFull marks err as a full disk when the database says so: SQLite's
// SQLITE_FULL, MySQL's ER_DISK_FULL (1021) and ER_RECORD_FILE_FULL (1114).
func diskFull(err error) error {
	if err == nil || errors.Is(err, syscall.ENOSPC) {
		return err
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == 13 { // SQLITE_FULL
		return &fullError{err}
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && (me.Number == 1021 || me.Number == 1114) {
		return &fullError{err}
	}
	return err
}
