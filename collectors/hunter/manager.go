package hunter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
	"github.com/ace-collector/ace-collector/collectors/hunter/search"
)

// hunt is the manager's in-memory view of one rule.
type hunt struct {
	rule      *rules.Rule
	times     Times
	firstSeen time.Time // when loaded (a never-run cron hunt waits for its first tick after it)
	running   bool
	// notBefore holds a hunt back after a failure (backoff), during
	// suppression, or while its window is empty (clock stepped back).
	notBefore time.Time
	failures  int
}

func (hs *hunt) next() time.Time {
	n := NextRun(hs.rule, hs.times, hs.firstSeen)
	if hs.notBefore.After(n) {
		n = hs.notBefore
	}
	return n
}

// manager runs one hunter's hunts: the ones due, each at most once at a
// time, at most concurrency_limit at once.
type manager struct {
	h   *Hunter
	env *collector.Env
	now func() time.Time

	mu    sync.Mutex
	hunts map[string]*hunt

	sem  chan struct{} // nil: no limit
	done chan struct{} // a hunt finished
	wg   sync.WaitGroup
}

func newManager(h *Hunter, env *collector.Env, now func() time.Time) *manager {
	m := &manager{h: h, env: env, now: now, hunts: map[string]*hunt{}, done: make(chan struct{}, 1)}
	if h.cfg.ConcurrencyLimit > 0 {
		m.sem = make(chan struct{}, h.cfg.ConcurrencyLimit)
	}
	return m
}

// Run implements collector.Collector.
func (h *Hunter) Run(ctx context.Context, env *collector.Env) error {
	defer h.backend.Close()
	m := newManager(h, env, time.Now)
	h.reload() // the files may have changed since the configuration was loaded
	m.logProblems(nil)
	if err := m.sync(ctx); err != nil {
		return err
	}
	env.Log.Info("collector started", "hunt_type", h.cfg.HuntType, "rule_dirs", h.cfg.RuleDirs,
		"hunts", len(m.hunts), "backend", h.backend.Instance())
	err := m.run(ctx)
	env.Log.Info("collector stopped")
	return err
}

// run starts due hunts and waits for the next one, a finished hunt or a
// rule check, until ctx ends; then it waits for running hunts.
func (m *manager) run(ctx context.Context) error {
	defer m.wg.Wait()
	check := time.NewTicker(m.h.cfg.UpdateFrequency)
	defer check.Stop()
	wake := time.NewTimer(time.Hour)
	defer wake.Stop()
	for {
		next := m.startDue(ctx)
		wake.Stop()
		var wakeC <-chan time.Time
		if !next.IsZero() {
			wake.Reset(max(next.Sub(m.now()), 0))
			wakeC = wake.C
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.done:
		case <-wakeC:
		case <-check.C:
			if changed := m.h.reload(); len(changed) > 0 {
				m.env.Log.Info("hunt rules changed; reloading those files only", "files", changed)
				m.logProblems(changed)
			}
			// Every tick, so hunts whose times could not be read are retried.
			if err := m.sync(ctx); err != nil && ctx.Err() == nil {
				m.env.Log.Error("reading hunt times failed", "error", err)
			}
		}
	}
}

// logProblems logs the rule files (of files, or all) that did not load,
// and the warnings of those that did.
func (m *manager) logProblems(files []string) {
	m.h.mu.Lock()
	set := m.h.set
	m.h.mu.Unlock()
	for _, f := range set.sortedFiles() {
		if files != nil && !slices.Contains(files, f.path) {
			continue
		}
		switch {
		case f.err != nil && !f.skipped:
			m.env.Log.Error("hunt rule not loaded; the other hunts run", "file", f.path, "error", f.err)
		case f.rule != nil:
			for _, w := range f.rule.Warnings {
				m.env.Log.Warn("hunt rule warning", "file", f.path, "warning", w)
			}
		}
	}
	for _, d := range set.missingDirs {
		if files == nil {
			m.env.Log.Warn("rule directory does not exist (yet)", "dir", d)
		}
	}
	for _, err := range set.walkErrs {
		m.env.Log.Error("reading a rule directory failed", "error", err)
	}
}

// sync makes the manager's hunts match the hunter's rules: new rules get
// their times from the store; edited ones keep their state (times are
// per hunt name, so no other hunt is touched); removed ones are dropped.
func (m *manager) sync(ctx context.Context) error {
	byName := map[string]*rules.Rule{}
	for _, r := range m.h.Rules() {
		byName[r.Name] = r
	}
	var errs []error
	for name, r := range byName {
		m.mu.Lock()
		hs, ok := m.hunts[name]
		if ok {
			hs.rule = r
		}
		m.mu.Unlock()
		if ok {
			continue
		}
		t, until, err := loadTimes(ctx, m.env.State, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.mu.Lock()
		m.hunts[name] = &hunt{rule: r, times: t, firstSeen: m.now(), notBefore: until}
		m.mu.Unlock()
	}
	m.mu.Lock()
	for name, hs := range m.hunts {
		if _, ok := byName[name]; !ok && !hs.running {
			delete(m.hunts, name)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// loadTimes reads a hunt's persisted times and suppression.
func loadTimes(ctx context.Context, st collector.State, name string) (Times, time.Time, error) {
	var t Times
	var until time.Time
	for _, k := range []struct {
		key string
		dst *time.Time
	}{{keyLastExecuted, &t.LastExecuted}, {keyLastEnd, &t.LastEnd}, {keySuppressed, &until}} {
		v, ok, err := st.Get(ctx, stateKey(name, k.key))
		if err != nil {
			return t, until, fmt.Errorf("hunt %s: reading %s: %w", name, k.key, err)
		}
		if !ok {
			continue
		}
		if *k.dst, err = parseTime(v); err != nil {
			return t, until, fmt.Errorf("hunt %s: %s: %w", name, k.key, err)
		}
	}
	return t, until, nil
}

// startDue starts every enabled, idle hunt that is due and returns the
// earliest time another one will be (zero: none).
func (m *manager) startDue(ctx context.Context) time.Time {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	type due struct {
		hs *hunt
		at time.Time
	}
	var ready []due
	var next time.Time
	for _, hs := range m.hunts {
		if !hs.rule.Enabled || hs.running {
			continue
		}
		at := hs.next()
		if at.IsZero() { // a cron schedule with no tick left
			continue
		}
		if !at.After(now) {
			ready = append(ready, due{hs, at})
			continue
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	// Longest-waiting first, so a concurrency limit serves them in order.
	sort.Slice(ready, func(i, j int) bool {
		if !ready[i].at.Equal(ready[j].at) {
			return ready[i].at.Before(ready[j].at)
		}
		return ready[i].hs.rule.Name < ready[j].hs.rule.Name
	})
	for _, d := range ready {
		d.hs.running = true
		m.wg.Add(1)
		go m.runHunt(ctx, d.hs)
	}
	return next
}

// runHunt runs one hunt (after taking a concurrency slot) and records the
// outcome.
func (m *manager) runHunt(ctx context.Context, hs *hunt) {
	defer m.wg.Done()
	defer func() {
		select {
		case m.done <- struct{}{}:
		default:
		}
	}()
	if m.sem != nil {
		select {
		case m.sem <- struct{}{}:
			defer func() { <-m.sem }()
		case <-ctx.Done():
			m.finish(hs, nil, nil)
			return
		}
	}
	m.mu.Lock()
	r, t := hs.rule, hs.times
	m.mu.Unlock()
	out, err := m.h.runOnce(ctx, m.env, r, t, m.now())
	m.finish(hs, out, err)
}

// finish records a run's outcome in memory (the store already has it).
func (m *manager) finish(hs *hunt, out *outcome, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	hs.running = false
	switch {
	case err != nil:
		hs.failures++
		hs.notBefore = m.now().Add(m.h.backoff(hs.rule, hs.failures))
	case out == nil: // stopped before it ran
	case out.empty:
		hs.notBefore = hs.times.LastEnd.Add(hs.rule.TimeRange)
	default:
		hs.failures = 0
		hs.times = out.times
		hs.notBefore = out.suppressedUntil
	}
}

// outcome is what a completed run leaves.
type outcome struct {
	times           Times
	suppressedUntil time.Time
	submissions     int
	empty           bool // nothing to search: the window was empty
}

// runOnce runs rule r, last run at t, as of now: search the window, submit
// every submission, and only then record the times (last_end_time first,
// so a crash between the two writes re-runs nothing already covered).
func (h *Hunter) runOnce(ctx context.Context, env *collector.Env, r *rules.Rule, t Times, now time.Time) (*outcome, error) {
	target := RunWindow(r, t, now)
	if target.Empty() {
		env.Log.Warn("hunt window is empty (the clock is behind the last window's end); waiting", "hunt", r.Name,
			"last_end_time", t.LastEnd)
		return &outcome{times: t, empty: true}, nil
	}
	log := env.Log.With("hunt", r.Name)
	started := time.Now()
	subs, err := h.search(ctx, env, r, QueryWindow(r, target), now)
	if err != nil {
		env.Count("hunt_failures", 1)
		if ctx.Err() == nil {
			log.Error("hunt failed", "error", err)
		}
		return nil, err
	}
	if err := submitAll(ctx, env, subs); err != nil {
		env.Count("submit_failures", 1)
		if ctx.Err() == nil {
			log.Warn("storing a hunt's submissions failed; the window is searched again on the next run", "error", err)
		}
		return nil, fmt.Errorf("hunt %s: submitting: %w", r.Name, err)
	}
	next := Times{LastExecuted: now, LastEnd: target.End}
	out := &outcome{times: next, submissions: len(subs)}
	if err := env.State.Put(ctx, stateKey(r.Name, keyLastStart), formatTime(target.Start)); err != nil {
		return nil, fmt.Errorf("hunt %s: recording last_start_time: %w", r.Name, err)
	}
	if err := env.State.Put(ctx, stateKey(r.Name, keyLastEnd), formatTime(next.LastEnd)); err != nil {
		return nil, fmt.Errorf("hunt %s: recording last_end_time: %w", r.Name, err)
	}
	if err := env.State.Put(ctx, stateKey(r.Name, keyLastExecuted), formatTime(next.LastExecuted)); err != nil {
		return nil, fmt.Errorf("hunt %s: recording last_executed_time: %w", r.Name, err)
	}
	if r.Suppression > 0 && len(subs) > 0 {
		out.suppressedUntil = now.Add(r.Suppression)
		if err := env.State.Put(ctx, stateKey(r.Name, keySuppressed), formatTime(out.suppressedUntil)); err != nil {
			return nil, fmt.Errorf("hunt %s: recording suppression: %w", r.Name, err)
		}
	}
	env.Count("hunts_run", 1)
	log.LogAttrs(ctx, slog.LevelInfo, "hunt ran", slog.String("window", target.String()),
		slog.Int("submissions", len(subs)), slog.Duration("took", time.Since(started)))
	return out, nil
}

// search runs the query over w and builds the submissions (counting what
// max_result_count cut off).
func (h *Hunter) search(ctx context.Context, env *collector.Env, r *rules.Rule, w search.Window, now time.Time) ([]*collector.Submission, error) {
	res, err := h.backend.Search(ctx, r, w)
	if err != nil {
		return nil, err
	}
	env.Count("events", int64(len(res.Events)))
	if res.Total > len(res.Events) {
		cut := int64(res.Total - len(res.Events))
		env.Drop("max_result_count", cut)
		env.Log.Warn("hunt matched more events than max_result_count; the rest are not submitted",
			"hunt", r.Name, "matched", res.Total, "max_result_count", r.MaxResultCount)
	}
	subs, err := h.build(r, res, w, now)
	if err != nil {
		return nil, err
	}
	env.Count("hunt_submissions", int64(len(subs)))
	return subs, nil
}

// backoff is the wait after the nth failure in a row: failure_backoff,
// doubling, at most the hunt's interval (an hour for cron hunts) unless
// failure_backoff itself is longer. A failing hunt that is behind does
// not retry at once, every pass (ACE's busy loop).
func (h *Hunter) backoff(r *rules.Rule, failures int) time.Duration {
	limit := time.Hour
	if iv := r.Schedule.Interval; iv > 0 && iv < limit {
		limit = iv
	}
	d := h.cfg.FailureBackoff
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return max(min(d, limit), h.cfg.FailureBackoff)
}

// submitters is how many submissions of one run are handed to the store
// at once: each Submit waits for its commit, and concurrent ones share
// commits (group commit), so a run of many submissions does not pay one
// commit each.
const submitters = 16

// submitAll submits every submission and returns once all have returned:
// nil only if the store took every one. After a failure the rest are not
// submitted (the run is retried as a whole).
func submitAll(ctx context.Context, env *collector.Env, subs []*collector.Submission) error {
	if len(subs) == 1 {
		return env.Sink.Submit(ctx, subs[0])
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan *collector.Submission)
	var wg sync.WaitGroup
	for range min(submitters, len(subs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sub := range next {
				if err := env.Sink.Submit(ctx, sub); err != nil {
					cancel(fmt.Errorf("submission %s: %w", sub.UUID, err))
				}
			}
		}()
	}
feed:
	for _, sub := range subs {
		select {
		case next <- sub:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	return context.Cause(ctx)
}
