// Package mysqltest gives tests a fresh MySQL/MariaDB database on the
// server named by $ACE_TEST_MYSQL_DSN (e.g. "root@tcp(127.0.0.1:3306)/").
// Without it, tests that need MySQL are skipped, except under CI=true
// where they fail: CI must not pass by silently testing less.
package mysqltest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"os"
	"testing"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
)

// EnvDSN names the environment variable holding the server DSN.
const EnvDSN = "ACE_TEST_MYSQL_DSN"

// Howto says how to enable the MySQL tests.
const Howto = EnvDSN + " is not set; to run the MySQL/MariaDB tests start a server (.ci/mariadb.sh) and set " +
	EnvDSN + "='root@tcp(127.0.0.1:3306)/'"

// Server returns the parsed server DSN, skipping the test (or failing it
// when CI=true) if none is configured.
func Server(t testing.TB) *mysqldrv.Config {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but " + Howto)
		}
		t.Skip(Howto)
	}
	c, err := mysqldrv.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("%s: %v", EnvDSN, err)
	}
	return c
}

// NewDatabase creates a database ace_test_<random> that is dropped when
// the test ends, and returns a DSN for it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	srv := Server(t)
	admin := srv.Clone()
	admin.DBName = ""
	db, err := sql.Open("mysql", admin.FormatDSN())
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	var b [6]byte
	rand.Read(b[:])
	name := "ace_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("mysqltest: creating database on %s: %v", srv.Addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("mysqltest: dropping %s: %v", name, err)
		}
	})
	c := srv.Clone()
	c.DBName = name
	return c.FormatDSN()
}

// Exec runs statements on dsn, failing the test on the first error.
func Exec(t testing.TB, dsn string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatalf("mysqltest: %v\n%s", err, s)
		}
	}
}
