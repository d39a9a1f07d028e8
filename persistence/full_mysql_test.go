package persistence

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// MySQL's "table is full" (1114) and "disk full" (1021) mean the same to a
// source as ENOSPC: keep the input and retry later. 1114 comes from a real
// MariaDB here (a MEMORY table past max_heap_table_size); 1021 cannot be
// provoked without filling the server's disk, so it is checked by value.
func TestMySQLFullErrorsMapToENOSPC(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx) // the session variable holds for this connection
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{
		"SET SESSION max_heap_table_size = 16384",
		"CREATE TABLE small (v VARCHAR(200)) ENGINE=MEMORY",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var full error
	for i := 0; i < 100000 && full == nil; i++ {
		_, full = conn.ExecContext(ctx, "INSERT INTO small VALUES (?)", strings.Repeat("x", 200))
	}
	var me *mysql.MySQLError
	if !errors.As(full, &me) || me.Number != 1114 {
		t.Fatalf("filling a MEMORY table gave %v, want MySQL error 1114", full)
	}
	for _, err := range []error{full, &mysql.MySQLError{Number: 1021, Message: "Disk full (/tmp); waiting for someone to free some space..."}} {
		mapped := diskFull(err)
		if !errors.Is(mapped, syscall.ENOSPC) || !errors.As(mapped, &me) {
			t.Errorf("diskFull(%v) = %v: want ENOSPC, keeping the MySQL error", err, mapped)
		}
	}
	if other := diskFull(&mysql.MySQLError{Number: 1062, Message: "Duplicate entry"}); errors.Is(other, syscall.ENOSPC) {
		t.Errorf("a duplicate key was taken for a full disk: %v", other)
	}
}
