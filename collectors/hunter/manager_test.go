package hunter

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/persistence"
)

// storedTime reads one of a hunt's persisted times (zero if absent).
func storedTime(t *testing.T, st collector.State, hunt, key string) time.Time {
	t.Helper()
	v, ok, err := st.Get(context.Background(), stateKey(hunt, key))
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return time.Time{}
	}
	tm, err := parseTime(v)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// users lists the user observables of subs, in order.
func users(subs []*collector.Submission) []string {
	var out []string
	for _, s := range subs {
		for _, o := range s.Observables {
			if o.Type == "user" {
				out = append(out, o.Value)
			}
		}
	}
	return out
}

// runSQLHunter starts the manager of an SQL hunter over the rules in dir,
// with a recording sink and state and a fake clock set to start.
func runSQLHunter(t *testing.T, dir, db string, start time.Time) (*collectortest.Sink, *collectortest.State, *collector.Env, *fakeClock, *manager) {
	t.Helper()
	sink, st := collectortest.NewSink(), collectortest.NewState()
	env := testEnv(t, sink, st)
	clk := newClock(start)
	return sink, st, env, clk, startManager(t, newSQLHunter(t, dir, db, ""), env, clk)
}

func startManager(t *testing.T, h *Hunter, env *collector.Env, clk *fakeClock) *manager {
	t.Helper()
	m := newManager(h, env, clk.Now)
	if err := m.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// A run's times are written only after every submission was stored: a
// store failure leaves them, and the next run searches the same window,
// so every event is submitted exactly once.
func TestTimesRecordedOnlyAfterEverySubmit(t *testing.T) {
	db := newEventDB(t, everySecond(t0.Add(-2*time.Minute), 240))
	dir := t.TempDir()
	writeRule(t, dir, "a", sqlRule("a", "full_coverage = yes\ntime_range = 00:01:00"))
	sink, st, env, clk, m := runSQLHunter(t, dir, db, t0)

	tick(t, m)
	if n := len(sink.Submissions()); n != 60 {
		t.Fatalf("first run: %d submissions, want 60 (one per event of [t0-1m, t0))", n)
	}
	if got := storedTime(t, st, "a", keyLastEnd); !got.Equal(t0) {
		t.Fatalf("last_end_time %v, want %v", got, t0)
	}
	if got := storedTime(t, st, "a", keyLastExecuted); !got.Equal(t0) {
		t.Fatalf("last_executed_time %v, want %v", got, t0)
	}

	sink.SetFail(errors.New("store full"))
	clk.Advance(time.Minute)
	tick(t, m)
	if got := storedTime(t, st, "a", keyLastEnd); !got.Equal(t0) {
		t.Fatalf("after a failed submit last_end_time moved to %v", got)
	}
	if env.Stats.Get("hunt", "submit_failures") != 1 {
		t.Errorf("submit_failures %d", env.Stats.Get("hunt", "submit_failures"))
	}
	// Backing off: not again before failure_backoff (30s).
	clk.Advance(10 * time.Second)
	tick(t, m)
	if env.Stats.Get("hunt", "submit_failures") != 1 {
		t.Fatalf("retried during the backoff")
	}
	sink.SetFail(nil)
	clk.Advance(20 * time.Second)
	tick(t, m)
	clk.Advance(time.Minute)
	tick(t, m)
	got := users(sink.Submissions())
	seen := map[string]int{}
	for _, u := range got {
		seen[u]++
	}
	// The retry at t0+1m30s covers [t0, t0+1m), the run at t0+2m30s
	// [t0+1m, t0+2m): the events of [t0-1m, t0+2m), each once.
	if len(got) != 180 || len(seen) != 180 {
		t.Fatalf("%d user observables, %d distinct; want 180 each", len(got), len(seen))
	}
	if got := storedTime(t, st, "a", keyLastEnd); !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("last_end_time %v", got)
	}
}

// A never-run cron hunt waits for its first tick.
func TestCronHuntWaitsForFirstTick(t *testing.T) {
	db := newEventDB(t, everySecond(t0, 600))
	dir := t.TempDir()
	writeRule(t, dir, "c", strings.Replace(sqlRule("c", "max_result_count = 1000"), "frequency = 00:01:00", "frequency = */5 * * * *", 1))
	sink, _, _, clk, m := runSQLHunter(t, dir, db, t0.Add(time.Minute))
	tick(t, m)
	if len(sink.Submissions()) != 0 {
		t.Fatal("a never-run cron hunt ran before its first tick")
	}
	clk.Set(t0.Add(5*time.Minute - time.Second))
	tick(t, m)
	if len(sink.Submissions()) != 0 {
		t.Fatal("ran before the tick")
	}
	clk.Set(t0.Add(5 * time.Minute))
	tick(t, m)
	// time_range defaults to the 5 minutes between ticks: [t0, t0+5m).
	if n := len(sink.Submissions()); n != 300 {
		t.Fatalf("%d submissions at the first tick, want 300", n)
	}
	clk.Set(t0.Add(9 * time.Minute))
	tick(t, m)
	if n := len(sink.Submissions()); n != 300 {
		t.Fatalf("ran between ticks (%d submissions)", n)
	}
}

// After a run that submitted something, the hunt rests for suppression
// (durably: a restart keeps it); a run that found nothing does not.
func TestSuppression(t *testing.T) {
	db := newEventDB(t, []event{{at: t0.Add(-30 * time.Second), user: "alice", ip: "10.0.0.1"}})
	dir := t.TempDir()
	writeRule(t, dir, "s", sqlRule("s", "suppression = 00:10:00\ntime_range = 01:00:00"))
	writeRule(t, dir, "quiet", strings.Replace(sqlRule("quiet", "suppression = 00:10:00"), "WHERE event_time", "WHERE 0 = 1 AND event_time", 1))
	sink, st, env, clk, m := runSQLHunter(t, dir, db, t0)
	tick(t, m)
	if n := len(sink.Submissions()); n != 1 {
		t.Fatalf("%d submissions", n)
	}
	for _, at := range []time.Duration{time.Minute, 5 * time.Minute, 9 * time.Minute} {
		clk.Set(t0.Add(at))
		tick(t, m)
	}
	// quiet (nothing found, so never suppressed) ran at 0, 1, 5 and 9
	// minutes; s once.
	if n := env.Stats.Get("hunt", "hunts_run"); n != 5 {
		t.Errorf("hunts_run %d, want 5", n)
	}
	if got := storedTime(t, st, "s", keySuppressed); !got.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("suppressed_until %v", got)
	}
	// A restart keeps the suppression.
	m2 := startManager(t, newSQLHunter(t, dir, db, ""), env, clk)
	tick(t, m2)
	if n := len(sink.Submissions()); n != 1 {
		t.Fatalf("ran while suppressed after a restart (%d submissions)", n)
	}
	clk.Set(t0.Add(10 * time.Minute))
	tick(t, m2)
	if n := len(sink.Submissions()); n != 2 {
		t.Fatalf("%d submissions after the suppression ended, want 2", n)
	}
}

// gateSink blocks Submit for descriptions containing block until
// released, recording how many hunts were submitting at once.
type gateSink struct {
	*collectortest.Sink
	block   string
	entered chan string
	release chan struct{}

	mu             sync.Mutex
	active, maxAct int
}

func newGateSink(block string) *gateSink {
	return &gateSink{Sink: collectortest.NewSink(), block: block, entered: make(chan string, 100), release: make(chan struct{})}
}

func (g *gateSink) Submit(ctx context.Context, sub *collector.Submission) error {
	g.mu.Lock()
	g.active++
	g.maxAct = max(g.maxAct, g.active)
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.active--; g.mu.Unlock() }()
	if g.block == "" || strings.Contains(sub.Description, g.block) {
		g.entered <- sub.Description
		select {
		case <-g.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return g.Sink.Submit(ctx, sub)
}

// A hunt never runs twice at once, and concurrency_limit bounds the hunts
// running together.
func TestNeverTwiceAtOnceAndConcurrencyLimit(t *testing.T) {
	db := newEventDB(t, []event{{at: t0.Add(-10 * time.Second), user: "alice", ip: "10.0.0.1"}})
	dir := t.TempDir()
	writeRule(t, dir, "a", sqlRule("a", "time_range = 02:00:00"))
	writeRule(t, dir, "b", sqlRule("b", "time_range = 02:00:00"))
	h := newSQLHunter(t, dir, db, "concurrency_limit = 1\n")
	sink := newGateSink("") // every submission waits
	env := testEnv(t, sink, collectortest.NewState())
	clk := newClock(t0)
	m := startManager(t, h, env, clk)
	m.startDue(context.Background())
	first := <-sink.entered
	// Both are running (one waiting for the slot): a later pass starts
	// neither again, however late it is.
	clk.Advance(time.Hour)
	m.startDue(context.Background())
	sink.release <- struct{}{}
	second := <-sink.entered
	sink.release <- struct{}{}
	m.wg.Wait()
	if first == second {
		t.Errorf("the same hunt ran twice: %q", first)
	}
	if sink.maxAct != 1 {
		t.Errorf("%d hunts submitted at once under concurrency_limit = 1", sink.maxAct)
	}
	if n := env.Stats.Get("hunt", "hunts_run"); n != 2 {
		t.Errorf("hunts_run %d, want 2", n)
	}
}

// Full coverage across a restart (a new store handle, a new hunter, 35
// minutes down): the windows continue from the stored last_end_time, so
// every event in the covered time is submitted exactly once.
func TestFullCoverageAcrossRestart(t *testing.T) {
	ctx := context.Background()
	db := newEventDB(t, everySecond(t0.Add(-time.Hour), 7200))
	dir := t.TempDir()
	writeRule(t, dir, "fc", sqlRule("fc", "full_coverage = yes\ntime_range = 00:01:00\nmax_time_range = 00:10:00\nmax_result_count = 1000"))
	storePath := filepath.Join(t.TempDir(), "store.db")
	sink := collectortest.NewSink()
	clk := newClock(t0)

	phase := func(until time.Time) time.Time {
		st, err := persistence.Open(ctx, persistence.Config{Driver: "sqlite", Path: storePath})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		env := testEnv(t, sink, st.State("hunt"))
		m := startManager(t, newSQLHunter(t, dir, db, ""), env, clk)
		for clk.Now().Before(until) {
			tick(t, m)
			m.mu.Lock()
			next := m.hunts["fc"].next()
			m.mu.Unlock()
			if next.After(clk.Now()) {
				clk.Set(next)
			}
		}
		return storedTime(t, st.State("hunt"), "fc", keyLastEnd)
	}
	phase(t0.Add(10 * time.Minute))
	clk.Set(t0.Add(45 * time.Minute)) // down for 35 minutes
	lastEnd := phase(t0.Add(50 * time.Minute))

	start := t0.Add(-time.Minute) // the first window: the last time_range
	want := int(lastEnd.Sub(start) / time.Second)
	got := users(sink.Submissions())
	seen := map[string]bool{}
	for _, u := range got {
		if seen[u] {
			t.Fatalf("event %s submitted twice (overlap)", u)
		}
		seen[u] = true
	}
	if len(got) != want || lastEnd.Before(t0.Add(49*time.Minute)) {
		t.Fatalf("%d events submitted, want %d (every second of [%v, %v)): a gap", len(got), want, start, lastEnd)
	}
	// The first and last events covered are the window's ends.
	slices.Sort(got)
	if got[0] != "u003540" || got[len(got)-1] != everySecond(t0.Add(-time.Hour), 7200)[3540+want-1].user {
		t.Errorf("first %s, last %s", got[0], got[len(got)-1])
	}
}

// Editing one rule while another runs reloads that rule only: every
// hunt keeps its times, the running one finishes, the edited one runs
// with its new text.
func TestEditOneRuleKeepsOthersTimes(t *testing.T) {
	db := newEventDB(t, everySecond(t0.Add(-time.Minute), 180))
	dir := t.TempDir()
	for _, n := range []string{"a", "b", "c"} {
		writeRule(t, dir, n, sqlRule(n, "full_coverage = yes\ntime_range = 00:01:00"))
	}
	h := newSQLHunter(t, dir, db, "")
	sink := newGateSink("(a)")
	st := collectortest.NewState()
	env := testEnv(t, sink, st)
	clk := newClock(t0)
	m := startManager(t, h, env, clk)
	go func() {
		for range sink.entered {
			sink.release <- struct{}{}
		}
	}()
	tick(t, m) // every hunt ran once: last_end_time = t0
	ruleA, _ := h.Rule("a")

	clk.Advance(time.Minute)
	sink2 := newGateSink("(a)") // a's next run blocks until told
	env.Sink = sink2
	m.startDue(context.Background())
	<-sink2.entered // a is mid-run
	// b and c have run with their rules as they were (all their
	// submissions are in).
	if _, err := sink2.WaitFor(context.Background(), 120); err != nil {
		t.Fatal(err)
	}
	writeRule(t, dir, "b", strings.Replace(sqlRule("b", "full_coverage = yes\ntime_range = 00:01:00"), "Failed logins (b)", "Edited failed logins (b)", 1))
	changed := h.reload()
	if len(changed) != 1 || filepath.Base(changed[0]) != "b.ini" {
		t.Fatalf("reloaded %v, want b.ini only", changed)
	}
	if err := m.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	go func() {
		sink2.release <- struct{}{}
		for range sink2.entered {
			sink2.release <- struct{}{}
		}
	}()
	m.wg.Wait()
	for _, n := range []string{"a", "b", "c"} {
		if got := storedTime(t, st, n, keyLastEnd); !got.Equal(t0.Add(time.Minute)) {
			t.Errorf("hunt %s: last_end_time %v, want %v", n, got, t0.Add(time.Minute))
		}
	}
	if r, _ := h.Rule("a"); r != ruleA {
		t.Error("rule a was reloaded though only b changed")
	}
	clk.Advance(time.Minute)
	tick(t, m)
	var edited int
	for _, s := range sink2.Submissions() {
		if strings.HasPrefix(s.Description, "Edited") {
			edited++
		}
	}
	if edited != 60 {
		t.Errorf("%d submissions of the edited rule in its next window, want 60", edited)
	}
	close(sink.entered)
	close(sink2.entered)
}

// A rule whose search file is missing is reported; when the file
// appears, the next check loads the rule and it runs.
func TestMissingQueryFileAppearsLater(t *testing.T) {
	db := newEventDB(t, everySecond(t0.Add(-time.Minute), 60))
	dir := t.TempDir()
	writeRule(t, dir, "later", strings.Replace(sqlRule("later", ""), "query = "+failedLoginsQuery, "search = "+filepath.Join(dir, "later.sql"), 1))
	h := newSQLHunter(t, dir, db, "")
	if len(h.Rules()) != 0 || len(h.Problems()) != 1 || !strings.Contains(h.Problems()[0].Error(), "[rule] search:") {
		t.Fatalf("rules %v, problems %v", h.Rules(), h.Problems())
	}
	sink := collectortest.NewSink()
	m := startManager(t, h, testEnv(t, sink, collectortest.NewState()), newClock(t0))
	if err := os.WriteFile(filepath.Join(dir, "later.sql"), []byte("# appears later\n"+failedLoginsQuery+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed := h.reload(); len(changed) != 1 {
		t.Fatalf("changed %v", changed)
	}
	m.sync(context.Background())
	tick(t, m)
	if n := len(sink.Submissions()); n != 60 || len(h.Problems()) != 0 {
		t.Fatalf("%d submissions, problems %v", n, h.Problems())
	}
}

// Results past max_result_count are not submitted, and counted.
func TestMaxResultCountIsCounted(t *testing.T) {
	db := newEventDB(t, everySecond(t0.Add(-30*time.Second), 30))
	dir := t.TempDir()
	writeRule(t, dir, "m", sqlRule("m", "max_result_count = 10"))
	sink := collectortest.NewSink()
	env := testEnv(t, sink, collectortest.NewState())
	m := startManager(t, newSQLHunter(t, dir, db, ""), env, newClock(t0))
	tick(t, m)
	if n := len(sink.Submissions()); n != 10 {
		t.Errorf("%d submissions, want 10", n)
	}
	if n := env.Stats.Get("hunt", "dropped_max_result_count"); n != 20 {
		t.Errorf("dropped_max_result_count %d, want 20", n)
	}
}

// The factory reports a broken rule with its file and key (as a warning
// on rule_dirs, so validate shows it) and the others still load.
func TestBrokenRuleReportedOthersLoad(t *testing.T) {
	db := newEventDB(t, nil)
	dir := t.TempDir()
	writeRule(t, dir, "good", sqlRule("good", ""))
	bad := writeRule(t, dir, "bad", strings.Replace(sqlRule("bad", ""), "frequency = 00:01:00", "frequency = 00:0x:00", 1))
	os.MkdirAll(filepath.Join(dir, "sub"), 0o750)
	writeRule(t, filepath.Join(dir, "sub"), "nested", sqlRule("nested", ""))
	writeRule(t, dir, "splunk_rule", strings.Replace(sqlRule("s", ""), "type = sql", "type = splunk", 1))
	h := newSQLHunter(t, dir, db, "")
	var names []string
	for _, r := range h.Rules() {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "good,nested" {
		t.Errorf("loaded %v", names)
	}
	probs := h.Problems()
	if len(probs) != 1 || !strings.HasPrefix(probs[0].Error(), bad+": [rule] frequency:") {
		t.Errorf("problems %v", probs)
	}
	if sk := h.Skipped(); len(sk) != 1 || filepath.Base(sk[0]) != "splunk_rule.ini" {
		t.Errorf("skipped %v", sk)
	}
}

// Run, on the real clock: it logs its start and stop, runs a due hunt at
// once, and returns nil when stopped.
func TestRunLogsStartStop(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	db := newEventDB(t, everySecond(now.Add(-10*time.Minute), 5))
	dir := t.TempDir()
	writeRule(t, dir, "r", sqlRule("r", "time_range = 01:00:00"))
	writeRule(t, dir, "broken", "[rule]\ntype = sql\n")
	h := newSQLHunter(t, dir, db, "update_frequency = 1h\n")
	sink := collectortest.NewSink()
	env := testEnv(t, sink, collectortest.NewState())
	logs := collectortest.RecordLogs(env)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, env) }()
	if _, err := sink.WaitFor(ctx, 5); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	logs.CheckStartStop(t, "hunt_type", "backend")
	found := false
	for _, m := range logs.Records() {
		found = found || (m["msg"] == "hunt rule not loaded; the other hunts run" && strings.HasSuffix(fmt.Sprint(m["file"]), "broken.ini"))
	}
	if !found {
		t.Error("the broken rule was not logged")
	}
}
