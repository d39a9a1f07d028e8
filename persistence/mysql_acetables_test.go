package persistence

import (
	"context"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// A MySQL store pointed at ACE's own database is refused with a message
// saying to use a database of its own, instead of a raw "table already
// exists" from the migration.
func TestMySQLStoreRefusesADatabaseWithACETables(t *testing.T) {
	dsn := mysqltest.NewDatabase(t)
	mysqltest.Exec(t, dsn,
		`CREATE TABLE incoming_workload (id BIGINT PRIMARY KEY, type_id INT, mode VARCHAR(256), work BLOB)`,
		`CREATE TABLE work_distribution (group_id INT, work_id BIGINT, status VARCHAR(16))`)
	_, err := Open(context.Background(), Config{Driver: "mysql", DSN: dsn})
	if err == nil || !strings.Contains(err.Error(), "already holds ACE's tables (incoming_workload, work_distribution)") ||
		!strings.Contains(err.Error(), "database of its own") {
		t.Fatalf("Open on ACE's database: %v", err)
	}
	// A database the project created itself (same table names) opens again.
	own := mysqltest.NewDatabase(t)
	openMySQLStoreAt(t, own, nil).Close()
	openMySQLStoreAt(t, own, nil).Close()
}
