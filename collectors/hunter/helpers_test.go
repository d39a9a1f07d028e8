package hunter

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
)

// fakeClock is the manager's clock in tests: time moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// t0 is a whole-minute start for the tests' clocks and events.
var t0 = time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)

// event is one row of the tests' auth_events table.
type event struct {
	at       time.Time
	user, ip string
}

// newEventDB creates a SQLite database with an auth_events table holding
// evs (times bound as the sql hunter binds its window) and returns its path.
func newEventDB(t testing.TB, evs []event) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "events.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE auth_events (id INTEGER PRIMARY KEY, event_time DATETIME NOT NULL,
		username TEXT, src_ip TEXT, outcome TEXT NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	addEvents(t, db, evs)
	return path
}

func addEvents(t testing.TB, db *sql.DB, evs []event) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if _, err := tx.Exec("INSERT INTO auth_events (event_time, username, src_ip, outcome) VALUES (?, ?, ?, 'failure')",
			e.at.UTC(), e.user, e.ip); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// everySecond is one event per second over [from, from+n s), with the
// event's index in the user name so each can be traced.
func everySecond(from time.Time, n int) []event {
	evs := make([]event, n)
	for i := range evs {
		evs[i] = event{at: from.Add(time.Duration(i) * time.Second), user: fmt.Sprintf("u%06d", i), ip: fmt.Sprintf("10.0.%d.%d", i/250, i%250+1)}
	}
	return evs
}

const failedLoginsQuery = "SELECT id, event_time, username, src_ip FROM auth_events WHERE event_time >= :start AND event_time < :end ORDER BY id"

// writeRule writes a rule file name.ini into dir.
func writeRule(t testing.TB, dir, name, body string) string {
	t.Helper()
	path := filepath.Join(dir, name+".ini")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sqlRule is a rule text for the auth_events table.
func sqlRule(name, extra string) string {
	return fmt.Sprintf(`[rule]
enabled = yes
name = %s
description = Failed logins (%s)
type = sql
frequency = 00:01:00
tags = auth
%s
query = %s

[observable_mapping]
username = user
src_ip = ipv4

[temporal_fields]
src_ip = yes
`, name, name, extra, failedLoginsQuery)
}

// newSQLHunter builds a sql hunter on the SQLite db through the kind's
// factory, as the daemon would, with extra section keys.
func newSQLHunter(t testing.TB, ruleDir, db, extra string) *Hunter {
	t.Helper()
	body := fmt.Sprintf("hunt_type = sql\nrule_dirs = %s\nsql_driver = sqlite\nsql_path = %s\n%s", ruleDir, db, extra)
	c, err := collectortest.Build(t, body, New)
	if err != nil {
		t.Fatal(err)
	}
	h := c.(*Hunter)
	t.Cleanup(func() { h.backend.Close() })
	return h
}

// tick starts every due hunt as of the clock and waits for them all.
func tick(t testing.TB, m *manager) {
	t.Helper()
	m.startDue(context.Background())
	m.wg.Wait()
}

// testEnv is an env over an in-memory state and recording sink.
func testEnv(t testing.TB, sink collector.Sink, st collector.State) *collector.Env {
	return collectortest.Env(t, "hunt", sink, st)
}
