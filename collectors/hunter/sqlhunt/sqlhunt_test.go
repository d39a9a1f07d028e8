package sqlhunt

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

const windowQuery = "SELECT id, event_time, username, src_ip FROM auth_events WHERE event_time >= :start AND event_time < :end ORDER BY id"

// MySQLConfig turns a test database DSN into the hunter's sql_* settings.
func MySQLConfig(t testing.TB, dsn string) Config {
	t.Helper()
	c, err := ConfigFromDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// backends gives the test a MariaDB backend (skipped without
// ACE_TEST_MYSQL_DSN, failing under CI=true) and a SQLite one, each with
// an auth_events table of one event per second over [t0-1m, t0+1m).
func backends(t *testing.T) map[string]*Backend {
	out := map[string]*Backend{}
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	fill(t, db, "DATETIME")
	db.Close()
	out["sqlite"] = New(Config{Driver: "sqlite", Path: path, Loc: time.UTC, MaxConns: 2})
	out["mysql"] = nil // skipped with mysqltest.Howto
	if os.Getenv(mysqltest.EnvDSN) != "" || os.Getenv("CI") == "true" {
		dsn := mysqltest.NewDatabase(t) // fails under CI=true without a server
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, db, "DATETIME(6)")
		db.Close()
		out["mysql"] = New(MySQLConfig(t, dsn))
	}
	for _, b := range out {
		if b != nil {
			t.Cleanup(func() { b.Close() })
		}
	}
	return out
}

func fill(t testing.TB, db *sql.DB, timeType string) {
	t.Helper()
	if _, err := db.Exec("CREATE TABLE auth_events (id INTEGER PRIMARY KEY, event_time " + timeType +
		" NOT NULL, username VARCHAR(64), src_ip VARCHAR(64), note TEXT)"); err != nil {
		t.Fatal(err)
	}
	for i := range 120 {
		// The note holds SQL that must stay data.
		if _, err := db.Exec("INSERT INTO auth_events VALUES (?, ?, ?, ?, ?)", i, t0.Add(time.Duration(i-60)*time.Second),
			fmt.Sprintf("u%03d", i), fmt.Sprintf("10.0.0.%d", i+1), "x'); DROP TABLE auth_events; --"); err != nil {
			t.Fatal(err)
		}
	}
}

func rule(q string) *rules.Rule {
	return &rules.Rule{Path: "r.ini", Name: "r", Query: q, MaxResultCount: 1000, QueryTimeout: time.Minute}
}

// The window binds as :start (inclusive) and :end (exclusive), with the
// rows' columns as event fields and event_time as the event's time.
func TestWindowBinding(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			if b == nil {
				t.Skip(mysqltest.Howto)
			}
			r := rule(windowQuery)
			if err := b.Prepare(r); err != nil || len(r.Warnings) > 0 {
				t.Fatalf("prepare: %v %v", err, r.Warnings)
			}
			res, err := b.Search(context.Background(), r, search.Window{Start: t0.Add(-10 * time.Second), End: t0.Add(5 * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Events) != 15 || res.Total != 15 || res.Query != windowQuery {
				t.Fatalf("%d events (total %d), query %q", len(res.Events), res.Total, res.Query)
			}
			first, last := res.Events[0], res.Events[14]
			if first.Fields["username"] != "u050" || last.Fields["username"] != "u064" {
				t.Errorf("first %v, last %v", first.Fields, last.Fields)
			}
			if !first.Time.Equal(t0.Add(-10*time.Second)) || first.Fields["src_ip"] != "10.0.0.51" {
				t.Errorf("event %+v", first)
			}
			if !strings.Contains(string(first.Raw), `"username":"u050"`) {
				t.Errorf("raw %s", first.Raw)
			}
		})
	}
}

// Rows past max_result_count are counted, not kept.
func TestMaxResultCount(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			if b == nil {
				t.Skip(mysqltest.Howto)
			}
			r := rule(windowQuery)
			r.MaxResultCount = 7
			res, err := b.Search(context.Background(), r, search.Window{Start: t0.Add(-time.Minute), End: t0.Add(time.Minute)})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Events) != 7 || res.Total != 120 {
				t.Errorf("%d events, total %d", len(res.Events), res.Total)
			}
		})
	}
}

// A hunt cannot write: MySQL runs it in a READ ONLY transaction, SQLite
// opens the file query_only.
func TestQueriesCannotWrite(t *testing.T) {
	for name, b := range backends(t) {
		t.Run(name, func(t *testing.T) {
			if b == nil {
				t.Skip(mysqltest.Howto)
			}
			r := rule("DELETE FROM auth_events WHERE event_time >= :start AND event_time < :end")
			if _, err := b.Search(context.Background(), r, search.Window{Start: t0.Add(-time.Minute), End: t0.Add(time.Minute)}); err == nil {
				t.Fatal("a DELETE ran")
			}
			res, err := b.Search(context.Background(), rule("SELECT COUNT(*) AS n FROM auth_events"), search.Window{})
			if err != nil || search.String(res.Events[0].Fields["n"]) != "120" {
				t.Fatalf("rows left: %v, %v", res, err)
			}
		})
	}
}

func TestPrepareChecksParameters(t *testing.T) {
	b := New(Config{Driver: "sqlite", Path: "unused.db", Loc: time.UTC})
	r := rule("SELECT * FROM t WHERE a > :since")
	err := b.Prepare(r)
	var re *rules.Error
	if !errors.As(err, &re) || re.Key != "query" || !strings.Contains(re.Msg, "since") {
		t.Errorf("error %v", err)
	}
	r = rule("SELECT * FROM t WHERE at > '10::00'")
	if err := b.Prepare(r); err != nil || len(r.Warnings) != 1 {
		t.Errorf("error %v, warnings %v (a query without the window is allowed but warned about)", err, r.Warnings)
	}
	q, args, err := bind(windowQuery, search.Window{Start: t0, End: t0.Add(time.Minute)})
	if err != nil || strings.Contains(q, ":start") || strings.Count(q, "?") != 2 || len(args) != 2 || args[0] != t0 {
		t.Errorf("bound %q %v %v", q, args, err)
	}
}

func TestQueryTimeout(t *testing.T) {
	bs := backends(t)
	b := bs["mysql"]
	if b == nil {
		t.Skip(mysqltest.Howto)
	}
	r := rule("SELECT SLEEP(30) AS s FROM auth_events WHERE event_time >= :start AND event_time < :end")
	r.QueryTimeout = 200 * time.Millisecond
	_, err := b.Search(context.Background(), r, search.Window{Start: t0, End: t0.Add(time.Second)})
	if err == nil || !strings.Contains(err.Error(), "query_timeout") {
		t.Errorf("error %v, want the query_timeout named", err)
	}
}
