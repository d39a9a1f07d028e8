package hunter_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collectors/hunter"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// node is an ACE-compatible receiver on loopback that keeps what it got.
type node struct {
	url string
	mu  sync.Mutex
	got []*api.Received
}

func newNode(t *testing.T) *node {
	n := &node{}
	srv, err := api.NewServer(api.ServerOptions{Dir: t.TempDir(), NoSync: true, OnSubmit: func(r *api.Received) {
		n.mu.Lock()
		n.got = append(n.got, r)
		n.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(hs.Close)
	n.url = hs.URL
	return n
}

func (n *node) received() []*api.Received {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*api.Received(nil), n.got...)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// startDaemon runs the real daemon (daemon.LoadValid + daemon.New) on conf.
func startDaemon(t *testing.T, conf string) *daemon.Daemon {
	t.Helper()
	path := filepath.Join(t.TempDir(), "collector.ini")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := daemon.LoadValid([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Version: "test", NoStatus: true, LogOutput: io.Discard,
		CleanupInterval: 20 * time.Millisecond, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; d.Close() })
	return d
}

// A SQL hunt end to end: the daemon's hunter finds the events of the last
// hour in a real database, groups them per user, the store takes the
// submissions, the group delivers them to an ACE node, and the hunt's
// times are persistence keys of the daemon's store.
func TestSQLHuntEndToEnd(t *testing.T) {
	for _, backend := range []string{"sqlite", "mysql"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			now := time.Now().UTC().Truncate(time.Second)
			var conn string
			switch backend {
			case "sqlite":
				path := filepath.Join(dir, "events.db")
				db, err := sql.Open("sqlite", "file:"+path+"?_time_format=sqlite")
				if err != nil {
					t.Fatal(err)
				}
				fillEvents(t, db, "DATETIME", now)
				db.Close()
				conn = "sql_driver = sqlite\nsql_path = " + path
			case "mysql":
				dsn := mysqltest.NewDatabase(t) // skipped without ACE_TEST_MYSQL_DSN, fails under CI=true
				db, err := sql.Open("mysql", dsn)
				if err != nil {
					t.Fatal(err)
				}
				fillEvents(t, db, "DATETIME(6)", now)
				db.Close()
				conn = mysqlKeys(t, dsn)
			}
			rulesDir := filepath.Join(dir, "hunts")
			os.MkdirAll(rulesDir, 0o750)
			os.WriteFile(filepath.Join(rulesDir, "logins.ini"), []byte(`[rule]
enabled = yes
name = failed_logins
description = Failed logins
type = sql
frequency = 01:00:00
tags = auth
time_range = 01:00:00
full_coverage = yes
group_by = username
query = SELECT event_time, username, src_ip FROM auth_events
    WHERE outcome = 'failure' AND event_time >= :start AND event_time < :end

[observable_mapping]
username = user
src_ip = ipv4

[temporal_fields]
src_ip = yes

[directives]
src_ip = no_scan
`), 0o600)
			n := newNode(t)
			d := startDaemon(t, fmt.Sprintf(`[global]
data_dir = %s
[node_a]
location = %s
[collection_group_g]
[collector_hunt]
type = hunter
hunt_type = sql
rule_dirs = %s
%s
`, dir, n.url, rulesDir, conn))
			eventually(t, "three submissions delivered", func() bool { return len(n.received()) >= 3 })
			got := map[string]*api.Received{}
			for _, r := range n.received() {
				got[r.Description] = r
			}
			alice := got["Failed logins: alice (10 events)"]
			if len(got) != 3 || alice == nil || got["Failed logins: bob (10 events)"] == nil {
				t.Fatalf("received %v", keys(got))
			}
			if alice.Tool != "hunter-sql" || alice.Type != "hunter - sql" || alice.AnalysisMode != "correlation" ||
				len(alice.Observables) != 11 || !alice.EventTime.Equal(now.Add(-30*time.Minute)) {
				t.Errorf("alice %+v", alice)
			}
			for _, o := range alice.Observables {
				if o.Type == "ipv4" && (o.Time.IsZero() || len(o.Directives) != 1) {
					t.Errorf("observable %+v: want its event's time and no_scan", o)
				}
			}
			st := d.Store().State("hunt")
			eventually(t, "last_end_time stored", func() bool {
				_, ok, _ := st.Get(context.Background(), "hunt:failed_logins:last_end_time")
				return ok
			})
			v, _, _ := st.Get(context.Background(), "hunt:failed_logins:last_end_time")
			end, err := time.Parse(time.RFC3339Nano, string(v))
			if err != nil || end.Before(now) || end.After(time.Now()) {
				t.Errorf("last_end_time %s (%v)", v, err)
			}
			if n := d.Stats().Get("hunt", "stored"); n != 3 {
				t.Errorf("stored %d", n)
			}
		})
	}
}

func keys(m map[string]*api.Received) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// fillEvents writes 30 failed logins of three users over the last 30
// minutes, plus noise: failures two hours old, successes minutes ahead.
func fillEvents(t *testing.T, db *sql.DB, timeType string, now time.Time) {
	t.Helper()
	if _, err := db.Exec("CREATE TABLE auth_events (id INTEGER PRIMARY KEY, event_time " + timeType +
		" NOT NULL, username VARCHAR(64), src_ip VARCHAR(64), outcome VARCHAR(16) NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	users := []string{"alice", "bob", "carol"}
	for i := range 40 {
		at, outcome := now.Add(-time.Duration(30-i)*time.Minute), "failure"
		switch {
		case i >= 35:
			outcome = "success"
		case i >= 30:
			at = now.Add(-2 * time.Hour)
		}
		if _, err := db.Exec("INSERT INTO auth_events VALUES (?, ?, ?, ?, ?)", i, at, users[i%3], fmt.Sprintf("10.0.0.%d", i), outcome); err != nil {
			t.Fatal(err)
		}
	}
}

// mysqlKeys turns a test DSN into the hunter's sql_* keys.
func mysqlKeys(t *testing.T, dsn string) string {
	t.Helper()
	at := strings.LastIndex(dsn, "@tcp(")
	userPass, rest := dsn[:at], dsn[at+len("@tcp("):]
	addr, db, _ := strings.Cut(rest, ")/")
	host, port, _ := strings.Cut(addr, ":")
	user, pass, _ := strings.Cut(userPass, ":")
	db, _, _ = strings.Cut(db, "?")
	return fmt.Sprintf("sql_hostname = %s\nsql_port = %s\nsql_database = %s\nsql_username = %s\nsql_password = %s\n", host, port, db, user, pass)
}

var _ = hunter.Kind // the kind registers itself on import

// Two hunter sections run side by side in one daemon, each with its own
// rules and its own hunt times, even for hunts of the same name.
func TestTwoHuntersSideBySide(t *testing.T) {
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	path := filepath.Join(dir, "events.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	fillEvents(t, db, "DATETIME", now)
	db.Close()
	var sections strings.Builder
	for i, who := range []string{"alice", "bob"} {
		rd := filepath.Join(dir, "hunts", who)
		os.MkdirAll(rd, 0o750)
		os.WriteFile(filepath.Join(rd, "r.ini"), []byte(fmt.Sprintf(`[rule]
enabled = yes
name = same_name
description = Logins of %s
type = sql
frequency = 01:00:00
time_range = 01:00:00
query = SELECT event_time, username FROM auth_events WHERE username = '%s' AND event_time >= :start AND event_time < :end
[observable_mapping]
username = user
`, who, who)), 0o600)
		fmt.Fprintf(&sections, "[collector_h%d]\ntype = hunter\nhunt_type = sql\nrule_dirs = %s\nsql_driver = sqlite\nsql_path = %s\nconcurrency_limit = 1\n", i, rd, path)
	}
	n := newNode(t)
	d := startDaemon(t, fmt.Sprintf("[global]\ndata_dir = %s\n[node_a]\nlocation = %s\n[collection_group_g]\n%s", dir, n.url, sections.String()))
	// alice and bob each have 10 events in the last hour (and others two
	// hours old or minutes ahead, outside the window).
	eventually(t, "both hunters' submissions", func() bool { return len(n.received()) >= 20 })
	for i, who := range []string{"alice", "bob"} {
		st := d.Store().State(fmt.Sprintf("h%d", i))
		eventually(t, who+"'s hunt time", func() bool {
			_, ok, _ := st.Get(context.Background(), "hunt:same_name:last_end_time")
			return ok
		})
	}
	count := map[string]int{}
	for _, r := range n.received() {
		count[r.Description]++
	}
	if count["Logins of alice"] != 10 || count["Logins of bob"] != 10 {
		t.Errorf("received %v", count)
	}
}
