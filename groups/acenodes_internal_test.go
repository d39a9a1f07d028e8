package groups

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/persistence"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// aceNodesDB creates ACE's node tables in a fresh database and fills them.
func aceNodesDB(t *testing.T) string {
	t.Helper()
	dsn := mysqltest.NewDatabase(t)
	schema, err := os.ReadFile("testdata/ace_nodes.sql")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, s := range strings.Split(string(schema), ";\n") {
		if strings.Contains(s, "CREATE") {
			stmts = append(stmts, s)
		}
	}
	node := func(id int, name string, company, ageSec, anyMode, isLocal int) string {
		return fmt.Sprintf(`INSERT INTO nodes (id, name, location, company_id, last_update, any_mode, is_local)
			VALUES (%d, '%s', '%s.example:443', %d, NOW() - INTERVAL %d SECOND, %d, %d)`, id, name, name, company, ageSec, anyMode, isLocal)
	}
	stmts = append(stmts,
		`INSERT INTO company (id, name) VALUES (1, 'default'), (2, 'other')`,
		node(1, "fresh-any", 1, 10, 1, 0),
		node(2, "fresh-modes", 1, 5, 0, 0),
		node(3, "stale", 1, 120, 1, 0),
		node(4, "local", 1, 1, 1, 1),
		node(5, "other-company", 2, 1, 1, 0),
		node(6, "fresh-any2", 1, 20, 1, 0),
		// Old but inside the 60 s window with a margin a slow machine
		// cannot eat; the exact boundary is TestACENodesFreshnessBoundary.
		node(7, "edge", 1, 45, 0, 0),
		`INSERT INTO node_modes (node_id, analysis_mode) VALUES (2, 'http'), (2, 'analysis'), (3, 'analysis'), (7, 'smtp')`,
		`INSERT INTO node_modes_excluded (node_id, analysis_mode) VALUES (1, 'email'), (1, 'correlation'), (6, 'x')`,
	)
	for i, n := range []int{1, 1, 6, 6, 3, 3, 3, 7, 7, 7} {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO workload (uuid, node_id, analysis_mode, insert_date, company_id, storage_dir)
			VALUES ('00000000-0000-4000-8000-%012d', %d, 'analysis', NOW(), 1, 'data/x')`, i, n))
	}
	mysqltest.Exec(t, dsn, stmts...)
	return dsn
}

func TestACENodes(t *testing.T) {
	dsn := aceNodesDB(t)
	ctx := context.Background()
	db, err := persistence.OpenMySQL(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	src := NewACENodes(db, ACENodesOptions{CompanyID: 1, Now: clk.Now, Logger: slog.New(slog.DiscardHandler)})
	nodes, err := src.Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Least workload first, then the oldest last_update.
	want := []Node{
		{Name: "fresh-modes", Location: "fresh-modes.example:443", Modes: []string{"analysis", "http"}},
		{Name: "fresh-any2", Location: "fresh-any2.example:443", AnyMode: true, Excluded: []string{"x"}, Workload: 2},
		{Name: "fresh-any", Location: "fresh-any.example:443", AnyMode: true, Excluded: []string{"correlation", "email"}, Workload: 2},
		{Name: "edge", Location: "edge.example:443", Modes: []string{"smtp"}, Workload: 3},
	}
	if !reflect.DeepEqual(nodes, want) {
		t.Fatalf("nodes:\n got %+v\nwant %+v", nodes, want)
	}
	accepts := map[string][]string{ // mode -> nodes accepting it, in order
		"analysis":    {"fresh-modes", "fresh-any2", "fresh-any"},
		"http":        {"fresh-modes", "fresh-any2", "fresh-any"},
		"correlation": {"fresh-any2"}, // an any-mode node with 2 exclusions excludes both
		"email":       {"fresh-any2"},
		"smtp":        {"fresh-any2", "fresh-any", "edge"},
		"x":           {"fresh-any"},
	}
	for mode, wantNames := range accepts {
		var got []string
		for _, n := range nodes {
			if n.Accepts(mode) {
				got = append(got, n.Name)
			}
		}
		if !reflect.DeepEqual(got, wantNames) {
			t.Errorf("mode %s accepted by %v, want %v", mode, got, wantNames)
		}
	}

	// Cached for CacheTTL: a new node shows up only after it.
	mysqltest.Exec(t, dsn, `INSERT INTO nodes (id, name, location, company_id, last_update, any_mode) VALUES (8, 'new', 'new:443', 1, NOW(), 1)`)
	nodes[0].Modes[0] = "mutated" // callers get copies
	if again, _ := src.Nodes(ctx); len(again) != 4 || again[0].Modes[0] != "analysis" {
		t.Fatalf("within CacheTTL: %+v", again)
	}
	clk.Advance(5 * time.Second)
	again, err := src.Nodes(ctx)
	if err != nil || len(again) != 5 || again[1].Name != "new" { // workload 0, newer than fresh-modes
		t.Fatalf("after CacheTTL: %+v, %v", again, err)
	}

	// Database unreadable: the last list is reused while younger than
	// Freshness, then the error comes through.
	mysqltest.Exec(t, dsn, `RENAME TABLE nodes TO nodes_gone`)
	clk.Advance(30 * time.Second)
	if old, err := src.Nodes(ctx); err != nil || len(old) != 5 {
		t.Fatalf("during an outage within Freshness: %d nodes, %v", len(old), err)
	}
	clk.Advance(31 * time.Second)
	if _, err := src.Nodes(ctx); err == nil || !strings.Contains(err.Error(), "reading ACE nodes") {
		t.Fatalf("after Freshness: err %v", err)
	}

	// A failed read is not repeated within CacheTTL (waiting workers do
	// not hammer a database that is down), and is after it.
	mysqltest.Exec(t, dsn, `RENAME TABLE nodes_gone TO nodes`)
	clk.Advance(4 * time.Second)
	if _, err := src.Nodes(ctx); err == nil {
		t.Fatal("the database was read again within CacheTTL of a failure")
	}
	clk.Advance(time.Second)
	if again, err := src.Nodes(ctx); err != nil || len(again) != 5 {
		t.Fatalf("after CacheTTL: %d nodes, %v", len(again), err)
	}
}

func TestACENodesOtherCompanyAndFreshness(t *testing.T) {
	dsn := aceNodesDB(t)
	ctx := context.Background()
	db, err := persistence.OpenMySQL(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		company   int
		freshness time.Duration
		want      []string
	}{
		{2, 0, []string{"other-company"}},
		{3, 0, []string{}},
		{1, 15 * time.Second, []string{"fresh-modes", "fresh-any"}},
		{1, 10 * time.Minute, []string{"fresh-modes", "fresh-any2", "fresh-any", "stale", "edge"}},
	} {
		nodes, err := NewACENodes(db, ACENodesOptions{CompanyID: tc.company, Freshness: tc.freshness}).Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, n := range nodes {
			got = append(got, n.Name)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("company %d freshness %v: %v, want %v", tc.company, tc.freshness, got, tc.want)
		}
	}
}

// The freshness window is inclusive and exact to the second, by the
// database's clock on both sides: the session's NOW() is pinned with SET
// TIMESTAMP and last_update is written relative to the same instant.
func TestACENodesFreshnessBoundary(t *testing.T) {
	dsn := aceNodesDB(t)
	const now = 1_700_000_000
	mysqltest.Exec(t, dsn, `DELETE FROM nodes`, `DELETE FROM workload`,
		fmt.Sprintf(`INSERT INTO nodes (id, name, location, company_id, last_update, any_mode, is_local) VALUES
			(20, 'at-60s', 'a:443', 1, FROM_UNIXTIME(%d), 1, 0),
			(21, 'at-61s', 'b:443', 1, FROM_UNIXTIME(%d), 1, 0)`, now-60, now-61))
	ctx := context.Background()
	db, err := persistence.OpenMySQL(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1) // one session, so the pinned clock is the query's
	if _, err := db.ExecContext(ctx, fmt.Sprintf("SET TIMESTAMP = %d", now)); err != nil {
		t.Fatal(err)
	}
	nodes, err := NewACENodes(db, ACENodesOptions{CompanyID: 1, Freshness: 60 * time.Second}).Nodes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 1 || nodes[0].Name != "at-60s" {
		t.Fatalf("nodes %+v, want only the one exactly 60 s old", nodes)
	}
}
