package persistence

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestClaimUsesIndex fills a few thousand rows (most of them already
// COMPLETED, as in a long-running queue) and checks that the claim query
// is an index range scan of work_distribution_claim, in index order, on
// every backend. The plan is logged for the closing note.
func TestClaimUsesIndex(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(func() time.Time) *Store) {
		clk := newClock()
		s := open(clk.Now)
		ctx := context.Background()
		const n = 3000
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for w := 0; w < 8; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					if _, _, err := s.Enqueue(ctx, work(i, target("a", 100), target("b", 100))); err != nil {
						errs <- err
						return
					}
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		// Deliver most of group a, so READY rows are a minority.
		for done := 0; done < n-200; {
			items, err := s.Claim(ctx, "a", "o", min(500, n-200-done))
			if err != nil || len(items) == 0 {
				t.Fatalf("claim: %d items, %v", len(items), err)
			}
			res := make([]Result, len(items))
			for i, it := range items {
				res[i] = Result{WorkID: it.WorkID, Outcome: Completed}
			}
			if err := s.Finish(ctx, "a", "o", res); err != nil {
				t.Fatal(err)
			}
			done += len(items)
		}
		gid, err := s.GroupID(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		args := []any{gid, clk.Now().UnixMilli(), 100}
		switch s.Dialect() {
		case "sqlite":
			if _, err := s.DB().ExecContext(ctx, "ANALYZE"); err != nil {
				t.Fatal(err)
			}
			rows, err := s.DB().QueryxContext(ctx, "EXPLAIN QUERY PLAN "+s.claimSQL(), args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			t.Logf("EXPLAIN QUERY PLAN %s\n  %s", oneLine(s.claimSQL()), strings.Join(plan, "\n  "))
			joined := strings.Join(plan, "\n")
			if !strings.Contains(joined, "SEARCH work_distribution USING") || !strings.Contains(joined, "INDEX work_distribution_claim") {
				t.Errorf("claim query does not search work_distribution_claim: %q", joined)
			}
			if strings.Contains(joined, "TEMP B-TREE") {
				t.Errorf("claim query sorts instead of walking the index: %q", joined)
			}
		case "mysql":
			if _, err := s.DB().ExecContext(ctx, "ANALYZE TABLE work_distribution"); err != nil {
				t.Fatal(err)
			}
			rows, err := s.DB().QueryxContext(ctx, "EXPLAIN "+s.claimSQL(), args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			var lines []string
			var key, typ, extra string
			for rows.Next() {
				m := map[string]any{}
				if err := rows.MapScan(m); err != nil {
					t.Fatal(err)
				}
				var cells []string
				for _, c := range cols {
					v := m[c]
					if b, ok := v.([]byte); ok {
						v = string(b)
					}
					cells = append(cells, fmt.Sprintf("%s=%v", c, v))
				}
				lines = append(lines, strings.Join(cells, " "))
				key, typ, extra = str(m["key"]), str(m["type"]), str(m["Extra"])
			}
			t.Logf("EXPLAIN %s\n  %s", oneLine(s.claimSQL()), strings.Join(lines, "\n  "))
			if len(lines) != 1 || key != "work_distribution_claim" || typ != "range" {
				t.Errorf("claim query plan: key=%q type=%q, want a range scan of work_distribution_claim", key, typ)
			}
			if strings.Contains(extra, "filesort") {
				t.Errorf("claim query sorts instead of walking the index: %q", extra)
			}
			// MariaDB's ANALYZE runs the query and reports the rows it
			// actually read: no more than the LIMIT, whatever the backlog.
			var version string
			if err := s.DB().GetContext(ctx, &version, "SELECT VERSION()"); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(version, "MariaDB") {
				m := map[string]any{}
				if err := s.DB().QueryRowxContext(ctx, "ANALYZE "+s.claimSQL(), args...).MapScan(m); err != nil {
					t.Fatal(err)
				}
				t.Logf("ANALYZE (MariaDB %s): rows=%s r_rows=%s key=%s", version, str(m["rows"]), str(m["r_rows"]), str(m["key"]))
				var read float64
				if _, err := fmt.Sscan(str(m["r_rows"]), &read); err != nil || read > 100 {
					t.Errorf("claim of 100 read %q rows (%v)", str(m["r_rows"]), err)
				}
			}
		default:
			t.Fatalf("no plan check for dialect %s", s.Dialect())
		}
	})
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []byte:
		return string(x)
	default:
		return fmt.Sprint(x)
	}
}

func oneLine(q string) string { return strings.Join(strings.Fields(q), " ") }

// TestSQLiteStatementsSearchIndexes checks that no statement the writer
// runs on every round, nor the lookups beside it, scans a queue table:
// each must search an index (the list arguments included, which SQLite
// reads with json_each), so a round's cost does not grow with the backlog.
func TestSQLiteStatementsSearchIndexes(t *testing.T) {
	s, err := Open(context.Background(), Config{Path: filepath.Join(t.TempDir(), "q.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	stmts := append(s.writerStatements(), sqlNextDue, sqlFinished,
		`UPDATE work_distribution SET lock_time = ? WHERE lock_uuid = ? AND status = 'LOCKED'`,
		`UPDATE work_distribution SET status = 'READY', lock_uuid = NULL, lock_time = NULL WHERE status = 'LOCKED' AND lock_time < ?`)
	for _, q := range stmts {
		nargs := strings.Count(q, "?")
		args := make([]any, nargs)
		for i := range args {
			args[i] = 1
		}
		bq, _, err := s.bind(q, []any{[]int64{1}})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(bq, "json_each") {
			for i := range args {
				args[i] = "[1]" // any value does for the plan
			}
		}
		rows, err := s.DB().QueryxContext(ctx, "EXPLAIN QUERY PLAN "+bq, args...)
		if err != nil {
			t.Fatalf("%s: %v", oneLine(bq), err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		for _, table := range []string{"work_distribution", "incoming_workload", "persistence"} {
			if strings.Contains(joined, "SCAN "+table+" ") || strings.HasSuffix(joined, "SCAN "+table) ||
				strings.Contains(joined, "SCAN "+table+";") {
				t.Errorf("%s\n  scans %s: %s", oneLine(bq), table, joined)
			}
		}
		t.Logf("%s\n  %s", oneLine(bq), joined)
	}
}
