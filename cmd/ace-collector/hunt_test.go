package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/persistence"
)

// huntConfig writes a configuration with a sql hunter over a SQLite table
// of ten failed logins in [10:00:00, 10:00:10) UTC on 2024-05-01, a good
// rule and a broken one, and returns its path.
func huntConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "events.db")
	db, err := sql.Open("sqlite", "file:"+dbPath+"?_time_format=sqlite")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE auth_events (event_time DATETIME, username TEXT, src_ip TEXT)"); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, err := db.Exec("INSERT INTO auth_events VALUES (?, ?, ?)", t0.Add(time.Duration(i)*time.Second),
			fmt.Sprintf("u%d", i), fmt.Sprintf("10.0.0.%d", i+1)); err != nil {
			t.Fatal(err)
		}
	}
	hunts := filepath.Join(dir, "hunts")
	os.MkdirAll(hunts, 0o750)
	rule := `[rule]
enabled = yes
name = %s
description = Failed logins
type = sql
frequency = %s
time_range = 01:00:00
query = SELECT event_time, username, src_ip FROM auth_events WHERE event_time >= :start AND event_time < :end

[observable_mapping]
username = user
src_ip = ipv4
`
	os.WriteFile(filepath.Join(hunts, "good.ini"), []byte(fmt.Sprintf(rule, "good", "00:10:00")), 0o600)
	os.WriteFile(filepath.Join(hunts, "broken.ini"), []byte(fmt.Sprintf(rule, "broken", "every now and then")), 0o600)
	conf := filepath.Join(dir, "collector.ini")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[global]
data_dir = %s
[collection]
status_listen = 127.0.0.1:0
[node_a]
location = http://127.0.0.1:1
[collection_group_g]
[collector_hunt]
type = hunter
hunt_type = sql
rule_dirs = %s
sql_driver = sqlite
sql_path = %s
`, dir, hunts, dbPath)), 0o600)
	return conf
}

func TestHuntVerifyNamesBrokenRules(t *testing.T) {
	conf := huntConfig(t)
	code, out, _ := runCLI(t, "hunt", "verify", "-c", conf)
	if code != 1 || !strings.Contains(out, "ok: [collector_hunt] sql:good") ||
		!strings.Contains(out, "broken: [collector_hunt] "+filepath.Join(filepath.Dir(conf), "hunts", "broken.ini")+": [rule] frequency:") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	// validate shows it too, as a warning: the daemon runs the good rule.
	code, out, _ = runCLI(t, "validate", "-c", conf)
	if code != 0 || !strings.Contains(out, "warning: [collector_hunt] rule_dirs: rule not loaded:") || !strings.Contains(out, "broken.ini") {
		t.Errorf("validate exit %d:\n%s", code, out)
	}
}

func TestHuntExecuteDryRunListAndSubmit(t *testing.T) {
	conf := huntConfig(t)
	jsonDir := filepath.Join(t.TempDir(), "json")
	// ACE's time format in a named zone: 05:59:00 in New York is 09:59:00Z.
	code, out, errOut := runCLI(t, "hunt", "execute", "-c", conf, "sql:good", "--start", "05/01/2024:05:59:00", "-z", "America/New_York",
		"--end", "2024-05-01T10:00:05Z", "--json-dir", jsonDir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var subs []collector.Submission
	if err := json.Unmarshal([]byte(out), &subs); err != nil {
		t.Fatalf("stdout is not a JSON array of submissions: %v\n%s", err, out)
	}
	if len(subs) != 5 || subs[0].Tool != "hunter-sql" || len(subs[0].Observables) != 2 {
		t.Fatalf("%d submissions: %+v", len(subs), subs)
	}
	if files, _ := os.ReadDir(jsonDir); len(files) != 5 {
		t.Errorf("%d files in --json-dir", len(files))
	}
	if !strings.Contains(errOut, "2024-05-01T09:59:00Z/2024-05-01T10:00:05Z: 5 submission(s); dry run") {
		t.Errorf("stderr %q", errOut)
	}

	code, out, _ = runCLI(t, "hunt", "list", "-c", conf)
	if code != 0 || !strings.Contains(out, "hunt       sql   good  yes      10m0s") || !strings.Contains(out, "never") ||
		strings.Contains(out, "broken") {
		t.Errorf("list exit %d:\n%s", code, out)
	}

	code, _, errOut = runCLI(t, "hunt", "execute", "-c", conf, "sql:good", "--start", "2024-05-01T10:00:00Z", "--end", "2024-05-01T10:00:10Z", "--submit")
	if code != 0 || !strings.Contains(errOut, "10 submission(s) queued") {
		t.Fatalf("submit exit %d: %s", code, errOut)
	}
	a, err := daemon.OpenAdmin(context.Background(), []string{conf}, os.Stderr, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if n, err := a.Store.Backlog(context.Background()); err != nil || n != 10 {
		t.Errorf("backlog %d (%v), want 10 queued", n, err)
	}
	// A manual run records no hunt time.
	if keys, _ := a.Store.Keys(context.Background(), persistence.KeyFilter{Source: "hunt"}, 100); len(keys) != 0 {
		t.Errorf("keys recorded by manual runs: %v", keys)
	}
}

func TestHuntExecuteUsage(t *testing.T) {
	conf := huntConfig(t)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"sql:nope"}, 1, `no enabled sql hunter has a hunt named "nope"`},
		{[]string{"good"}, 1, "want TYPE:NAME"},
		{[]string{"sql:good", "--start", "yesterday"}, 2, "--start"},
		{[]string{"sql:good", "-z", "Mars/Olympus"}, 2, "-z"},
		{[]string{"sql:good", "--start", "2024-05-01T11:00:00Z", "--end", "2024-05-01T10:00:00Z"}, 1, "empty"},
		{[]string{}, 2, "TYPE:NAME"},
	} {
		code, _, errOut := runCLI(t, append([]string{"hunt", "execute", "-c", conf}, tc.args...)...)
		if code != tc.code || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
	}
}
