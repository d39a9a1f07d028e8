package hunter

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/sqlhunt"
	"github.com/ace-collector/ace-collector/persistence"
	"github.com/ace-collector/ace-collector/persistence/mysqltest"
)

// countSink validates and counts submissions (the hunter's own cost,
// without a store).
type countSink struct{ n atomic.Int64 }

func (s *countSink) Submit(_ context.Context, sub *collector.Submission) error {
	if err := sub.Validate(); err != nil {
		return err
	}
	s.n.Add(1)
	return nil
}

const benchEvents = 200_000

// BenchmarkSQLHuntMariaDB measures full-coverage SQL hunts on MariaDB
// back to back, each over the next window of a table with one event per
// second, for several events per hunt: hunts/s and events/s, into a
// counting sink ("nostore") or through the runtime into the embedded
// store ("store": each submission committed durably, times persisted).
//
//	ACE_TEST_MYSQL_DSN='root@tcp(127.0.0.1:3306)/' go test -run '^$' -bench SQLHunt ./collectors/hunter
func BenchmarkSQLHuntMariaDB(b *testing.B) {
	dsn := mysqltest.NewDatabase(b)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		b.Fatal(err)
	}
	mysqltest.Exec(b, dsn, `CREATE TABLE auth_events (id BIGINT PRIMARY KEY, event_time DATETIME(6) NOT NULL,
		username VARCHAR(64) NOT NULL, src_ip VARCHAR(45) NOT NULL, outcome VARCHAR(16) NOT NULL, KEY (event_time))`)
	for i := 0; i < benchEvents; i += 1000 {
		var q strings.Builder
		q.WriteString("INSERT INTO auth_events VALUES ")
		args := make([]any, 0, 4000)
		for j := i; j < i+1000; j++ {
			if j > i {
				q.WriteString(",")
			}
			q.WriteString("(?, ?, ?, ?, 'failure')")
			args = append(args, j, t0.Add(time.Duration(j)*time.Second), fmt.Sprintf("u%d", j%500), fmt.Sprintf("10.%d.%d.%d", j>>16&255, j>>8&255, j&255))
		}
		if _, err := db.Exec(q.String(), args...); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	cfg, err := sqlhunt.ConfigFromDSN(dsn)
	if err != nil {
		b.Fatal(err)
	}
	for _, store := range []bool{false, true} {
		for _, per := range []int{1, 100, 1000} {
			name := fmt.Sprintf("nostore/events_per_hunt=%d", per)
			if store {
				name = fmt.Sprintf("store/events_per_hunt=%d", per)
			}
			b.Run(name, func(b *testing.B) { benchHunts(b, cfg, per, store) })
		}
	}
}

func benchHunts(b *testing.B, cfg sqlhunt.Config, per int, store bool) {
	ctx := context.Background()
	dir := b.TempDir()
	writeRule(b, dir, "bench", fmt.Sprintf(`[rule]
enabled = yes
name = bench
description = Bench
type = sql
frequency = 00:00:01
full_coverage = yes
time_range = %d
max_time_range = %d
max_result_count = %d
query = %s

[observable_mapping]
username = user
src_ip = ipv4

[temporal_fields]
src_ip = yes
`, per, per, per, failedLoginsQuery))
	h := NewWithBackend(Config{HuntType: TypeSQL, RuleDirs: []string{dir}, FailureBackoff: time.Second,
		Defaults: rules.ACEDefaults, Fields: collector.SubmissionFields{Tool: "hunter-sql", Type: "hunter - sql", AnalysisMode: "correlation"}},
		collector.Global{Hostname: "bench"}, sqlhunt.New(cfg))
	defer h.backend.Close()
	r, ok := h.Rule("bench")
	if !ok {
		b.Fatalf("rule not loaded: %v", h.Problems())
	}
	var sink collector.Sink = &countSink{}
	var state collector.State = collectortest.NewState()
	if store {
		st, err := persistence.Open(ctx, persistence.Config{Driver: "sqlite", Path: filepath.Join(dir, "store.db")})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		rt, err := collector.NewRuntime(collector.RuntimeOptions{Queue: st, IncomingDir: filepath.Join(dir, "incoming"),
			Groups: []collector.GroupTarget{{Name: "g", Coverage: 100}}})
		if err != nil {
			b.Fatal(err)
		}
		sink, state = rt.Sink("bench", Kind, nil), st.State("bench")
	}
	env := collectortest.Env(b, "bench", sink, state)
	span := time.Duration(per) * time.Second
	times := Times{LastEnd: t0}
	var events int64
	b.ResetTimer()
	for range b.N {
		if times.LastEnd.Add(span).After(t0.Add(benchEvents * time.Second)) {
			times = Times{LastEnd: t0} // wrap around the table
		}
		out, err := h.runOnce(ctx, env, r, times, times.LastEnd.Add(span))
		if err != nil {
			b.Fatal(err)
		}
		if out.submissions != per {
			b.Fatalf("%d submissions, want %d", out.submissions, per)
		}
		events += int64(out.submissions)
		times = out.times
	}
	b.StopTimer()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "hunts/s")
	b.ReportMetric(float64(events)/secs, "events/s")
}
