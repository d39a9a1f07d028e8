package persistence

import (
	"context"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// The MySQL backend runs every contract test of store_test.go, each on a
// freshly created database. See mysqltest for how to enable it.
func init() {
	backendsMu.Lock()
	defer backendsMu.Unlock()
	extraBackends = append(extraBackends, backend{name: "mysql", open: openMySQLTestStore})
}

func openMySQLTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	return openMySQLStoreAt(t, mysqltest.NewDatabase(t), now)
}

// openMySQLStoreAt opens one more Store handle on an existing database (a
// second "instance").
func openMySQLStoreAt(t testing.TB, dsn string, now func() time.Time) *Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Open(ctx, Config{Driver: "mysql", DSN: dsn, Now: now})
	if err != nil {
		t.Fatalf("open mysql store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
