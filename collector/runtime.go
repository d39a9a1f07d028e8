package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"
)

// QueuedWork is a durable-queue entry as the runtime hands it to the store.
type QueuedWork struct {
	UUID    string
	Type    string // the collector's name
	Mode    string
	Payload []byte
	// Sub is Payload decoded: a copy of the submission that nothing
	// modifies once queued, so a store may hand it to a delivery worker
	// as it is instead of decoding Payload again. Set only for queues
	// that say they use it (SubmissionUser).
	Sub         *Submission
	HasFiles    bool
	Groups      []GroupTarget
	DedupSource string
	DedupKey    string
}

// GroupTarget is a collection group with its coverage percentage.
type GroupTarget struct {
	Name     string `json:"name"`
	Coverage int    `json:"coverage"`
	Default  bool   `json:"default,omitempty"` // gets what no routing rule matched
}

// FinishedWork is a stored submission every group is done with.
type FinishedWork struct {
	ID       int64
	UUID     string
	HasFiles bool
}

// Queue is the durable store as the runtime uses it.
type Queue interface {
	// Enqueue returns only once w is committed. dup reports a remembered
	// dedup key (nothing stored); skipped lists groups coverage skipped.
	Enqueue(ctx context.Context, w QueuedWork) (dup bool, skipped []string, err error)
	Finished(ctx context.Context, limit int) ([]FinishedWork, error)
	Delete(ctx context.Context, ids []int64) error
	Existing(ctx context.Context, uuids []string) (map[string]bool, error)
	ExpireKeys(ctx context.Context, createdAge, unmodifiedAge time.Duration) (int64, error)
	State(source string) State
	Changed() <-chan struct{}
}

// SubmissionUser is implemented by queues that may use QueuedWork.Sub;
// for others the runtime does not copy the submission.
type SubmissionUser interface {
	UsesSubmissions() bool
}

// StoreIdentity is implemented by queues that can say which store they
// are. Manifests carry the id, so that start-up can tell a replaced store
// from one that lost its latest commits (it only changes what is logged).
type StoreIdentity interface {
	StoreMeta(ctx context.Context) (StoreMeta, error)
}

// StoreMeta identifies a store: a random id and when it was first used.
type StoreMeta struct {
	ID      string
	Created time.Time
}

// Instance is one configured collector.
type Instance struct {
	Name      string // NAME of [collector_NAME]
	Kind      string
	Collector Collector
	Tuning    *Tuning // optional drop rules
}

// RuntimeOptions configure a Runtime.
type RuntimeOptions struct {
	Queue       Queue
	IncomingDir string
	Groups      []GroupTarget // enabled groups
	Routing     []*RoutingRule
	Global      Global
	Log         *slog.Logger
	Stats       *Stats
	// Expiry of volatile persistence keys (ACE's persistence_* settings).
	KeyExpiration           time.Duration
	KeyUnmodifiedExpiration time.Duration
	KeyClearInterval        time.Duration
	CleanupInterval         time.Duration
	// SharedIncoming: other instances (sharing a MySQL queue) stage into
	// the same incoming dir, so the sweep only looks at entries older than
	// OrphanAge; otherwise at every entry this process is not staging.
	// OrphanAge is also the interval of the periodic sweep.
	SharedIncoming bool
	OrphanAge      time.Duration
	// OnStored, if set, is told of every submission just committed (live
	// views). It runs on the submitting goroutine, so it must not block.
	OnStored func(StoredEvent)
}

// StoredEvent is a submission the runtime has just committed.
type StoredEvent struct {
	Collector, Kind string
	// Sub may be read during the call only (its source may reuse it);
	// Payload, the stored JSON, is never modified and may be kept.
	Sub     *Submission
	Payload []byte
	Groups  []GroupTarget // the groups it was queued for
	Skipped []string      // those coverage skipped (done without delivery)
}

// Runtime owns the collectors: it is their Sink, makes every submission
// durable before returning, and deletes submissions once delivered.
type Runtime struct {
	o     RuntimeOptions
	names map[string]bool
	// fullLogged: when "store full" was last logged (unix nanoseconds).
	fullLogged atomic.Int64
	health     healthBook
	// tuning: the rules after a reload (nil before one).
	tuning  atomic.Pointer[[]*TuningRule]
	routing atomic.Pointer[[]*RoutingRule] // likewise
	// staging: uuids between staging and the end of Submit; the sweep
	// leaves their directories alone.
	staging inflight
	keepSub bool // the queue uses QueuedWork.Sub
	metaMu  sync.Mutex
	meta    StoreMeta // cached once read
	// foreign: entries of incoming_dir already logged as not ours.
	foreignMu sync.Mutex
	foreign   map[string]bool
}

// NewRuntime checks options and fills defaults.
func NewRuntime(o RuntimeOptions) (*Runtime, error) {
	if o.Queue == nil || o.IncomingDir == "" {
		return nil, errors.New("runtime: queue and incoming dir are required")
	}
	if len(o.Groups) == 0 {
		return nil, errors.New("runtime: no enabled collection group")
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Stats == nil {
		o.Stats = NewStats()
	}
	if o.KeyClearInterval <= 0 {
		o.KeyClearInterval = time.Minute
	}
	if o.CleanupInterval <= 0 {
		o.CleanupInterval = time.Second
	}
	if o.OrphanAge <= 0 {
		o.OrphanAge = 15 * time.Minute
	}
	r := &Runtime{o: o, names: map[string]bool{}, foreign: map[string]bool{}}
	if su, ok := o.Queue.(SubmissionUser); ok {
		r.keepSub = su.UsesSubmissions()
	}
	for _, g := range o.Groups {
		r.names[g.Name] = true
	}
	if err := os.MkdirAll(o.IncomingDir, 0o750); err != nil {
		return nil, fmt.Errorf("runtime: creating incoming dir: %w", err)
	}
	return r, nil
}

// Sink returns the Sink for the collector called name.
func (r *Runtime) Sink(name, kind string, tuning *Tuning) Sink {
	return &sink{r: r, name: name, kind: kind, tuning: tuning}
}

type sink struct {
	r          *Runtime
	name, kind string
	tuning     *Tuning
}

// Submit implements the durability contract (see Sink).
func (s *sink) Submit(ctx context.Context, sub *Submission) error {
	r := s.r
	s.defaults(sub)
	if err := sub.Validate(); err != nil {
		r.o.Stats.Add(s.name, "dropped_invalid", 1)
		return err
	}
	if rule := r.tuningFor(s.name, s.tuning).Match(sub); rule != "" {
		r.o.Stats.Add(s.name, "dropped_tuning", 1)
		r.o.Log.Info("submission matched a tuning rule; dropped", "collector", s.name, "rule", rule, "description", sub.Description)
		return removeSources(sub.Files)
	}
	if u, _ := uuid.Parse(sub.UUID); len(sub.UUID) != 36 {
		sub.UUID = u.String() // the form staging directories are named and recognised by
	}
	w := QueuedWork{
		UUID: sub.UUID, Type: s.name, Mode: sub.AnalysisMode, HasFiles: len(sub.Files) > 0,
		Groups: r.groupsFor(s.name, sub), DedupSource: s.name, DedupKey: sub.DedupKey,
	}
	var orig []File
	var dir string
	var sources []string
	if w.HasFiles {
		r.staging.add(sub.UUID)
		defer r.staging.done(sub.UUID) // after every removal below
		orig = slices.Clone(sub.Files)
		var err error
		if dir, sources, err = stageSubmission(r.o.IncomingDir, sub, &w, r.storeMeta(ctx).ID, time.Now()); err != nil {
			sub.Files = orig
			if errors.Is(err, ErrInvalid) {
				r.o.Stats.Add(s.name, "dropped_invalid", 1)
				return fmt.Errorf("submission %s: %w", sub.UUID, err)
			}
			r.o.Stats.Add(s.name, "store_failed", 1)
			return r.storeError(s.name, sub.UUID, "staging files", err)
		}
	} else {
		var err error
		if w.Payload, err = json.Marshal(sub); err != nil {
			return fmt.Errorf("%w: submission %s: encoding: %w", ErrInvalid, sub.UUID, err)
		}
	}
	if r.keepSub {
		w.Sub = sub.queuedCopy()
	}
	if err := s.enqueue(ctx, sub, &w, dir); err != nil {
		if orig != nil {
			sub.Files = orig // not committed: the source keeps its files
		}
		return err
	}
	// Committed, or a duplicate of what is: the source may go.
	for _, src := range sources {
		if err := os.Remove(src); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.o.Log.Warn("removing submitted source file failed", "collector", s.name, "path", src, "error", err)
		}
	}
	return nil
}

// defaults fills what ACE's client fills for absent fields.
func (s *sink) defaults(sub *Submission) {
	if sub.UUID == "" {
		sub.UUID = uuid.NewString()
	}
	if sub.AnalysisMode == "" {
		sub.AnalysisMode = DefaultAnalysisMode
	}
	if sub.Type == "" {
		sub.Type = DefaultType
	}
	if sub.Queue == "" {
		sub.Queue = DefaultQueue
	}
	if sub.Tool == "" {
		sub.Tool = "ace-collector " + s.kind
	}
	if sub.ToolInstance == "" {
		sub.ToolInstance = s.r.o.Global.Hostname
	}
}

// enqueue commits w; on failure or a remembered dedup key it removes the
// staged directory dir (if any): nothing was committed that needs it.
func (s *sink) enqueue(ctx context.Context, sub *Submission, w *QueuedWork, dir string) error {
	r := s.r
	dup, skipped, err := r.o.Queue.Enqueue(ctx, *w)
	if err != nil {
		r.o.Stats.Add(s.name, "store_failed", 1)
		err = r.storeError(s.name, w.UUID, "storing", err)
		if dir != "" {
			os.RemoveAll(dir)
		}
		return err
	}
	if dup {
		if dir != "" {
			os.RemoveAll(dir)
		}
		r.o.Stats.Add(s.name, "dropped_duplicate", 1)
		r.o.Log.Debug("duplicate submission dropped", "collector", s.name, "uuid", w.UUID, "dedup_key", w.DedupKey)
		return nil
	}
	r.o.Stats.Add(s.name, "stored", 1)
	for _, g := range skipped {
		r.o.Stats.Add("group:"+g, "skipped_coverage", 1)
	}
	if f := r.o.OnStored; f != nil {
		f(StoredEvent{Collector: s.name, Kind: s.kind, Sub: sub, Payload: w.Payload, Groups: w.Groups, Skipped: skipped})
	}
	r.o.Log.Debug("submission stored", "collector", s.name, "uuid", w.UUID, "groups", len(w.Groups))
	return nil
}

// storeMeta returns the store's identity, reading it once; the zero value
// when the queue cannot say (or cannot now: it is read again next time).
func (r *Runtime) storeMeta(ctx context.Context) StoreMeta {
	si, ok := r.o.Queue.(StoreIdentity)
	if !ok {
		return StoreMeta{}
	}
	r.metaMu.Lock()
	defer r.metaMu.Unlock()
	if r.meta.ID == "" {
		m, err := si.StoreMeta(ctx)
		if err != nil {
			r.o.Log.Debug("reading the store's identity failed", "error", err)
			return StoreMeta{}
		}
		r.meta = m
	}
	return r.meta
}

// inflight counts the uuids a Submit is staging or committing.
type inflight struct {
	mu sync.Mutex
	m  map[string]int
}

func (f *inflight) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]int{}
	}
	f.m[id]++
}

func (f *inflight) done(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m[id]--; f.m[id] <= 0 {
		delete(f.m, id)
	}
}

func (f *inflight) has(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m[id] > 0
}

// storeError describes a failure to make a submission durable. A full
// disk is named as such (and counted as store_full): the source keeps its
// input and retries, and the operator must free space.
func (r *Runtime) storeError(collectorName, uuid, what string, err error) error {
	if errors.Is(err, syscall.ENOSPC) {
		r.o.Stats.Add(collectorName, "store_full", 1)
		// Every source retries while the disk is full: log once a minute.
		if last := r.fullLogged.Load(); time.Since(time.Unix(0, last)) >= time.Minute &&
			r.fullLogged.CompareAndSwap(last, time.Now().UnixNano()) {
			r.o.Log.Error("store full: no space left on device; sources keep their input until space is freed",
				"collector", collectorName, "incoming_dir", r.o.IncomingDir, "error", err)
		}
		return fmt.Errorf("submission %s: store full: no space left on device (%s; free disk space, input is kept and retried): %w",
			uuid, what, err)
	}
	return fmt.Errorf("submission %s: %s: %w", uuid, what, err)
}

func removeSources(files []File) error {
	for _, f := range files {
		if f.DeleteSource {
			if err := os.Remove(f.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("removing %s: %w", f.Path, err)
			}
		}
	}
	return nil
}

// groupsFor applies group_assignments: named groups only; names matching no
// group fall back to every group, with an error logged (ACE's behaviour).
// Without them, the routing rules decide (see route).
func (r *Runtime) groupsFor(collectorName string, sub *Submission) []GroupTarget {
	if len(sub.GroupAssignments) == 0 {
		return r.route(collectorName, sub)
	}
	var out []GroupTarget
	for _, g := range r.o.Groups {
		if slices.Contains(sub.GroupAssignments, g.Name) {
			out = append(out, g)
		}
	}
	if len(out) == 0 {
		r.o.Stats.Add(collectorName, "unknown_group_assignment", 1)
		r.o.Log.Error("group assignment does not map to any known group; sending to all groups",
			"collector", collectorName, "uuid", sub.UUID, "group_assignments", sub.GroupAssignments)
		return r.o.Groups
	}
	return out
}

// Run sweeps incoming_dir (see SweepIncoming), starts every collector
// (restarting failed ones with backoff), and runs cleanup and key expiry
// until ctx is cancelled. It returns after every collector has returned.
func (r *Runtime) Run(ctx context.Context, instances []Instance) error {
	if _, err := r.SweepIncoming(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	for _, inst := range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.supervise(ctx, inst)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.cleanupLoop(ctx)
	}()
	wg.Wait()
	return nil
}

func (r *Runtime) supervise(ctx context.Context, inst Instance) {
	env := &Env{
		Name:   inst.Name,
		Kind:   inst.Kind,
		Sink:   r.Sink(inst.Name, inst.Kind, inst.Tuning),
		State:  r.o.Queue.State(inst.Name),
		Log:    r.o.Log.With("collector", inst.Name, "kind", inst.Kind),
		Stats:  r.o.Stats,
		Global: r.o.Global,
	}
	wait := time.Second
	for {
		start := time.Now()
		r.health.set(inst, true, nil)
		err := runSafely(ctx, inst.Collector, env)
		if ctx.Err() != nil {
			return
		}
		r.health.set(inst, false, err)
		if time.Since(start) > 5*time.Minute {
			wait = time.Second
		}
		r.o.Stats.Add(inst.Name, "restarts", 1)
		env.Log.Error("collector stopped; restarting", "error", err, "in", wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(wait*2, time.Minute)
	}
}

func runSafely(ctx context.Context, c Collector, env *Env) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	err = c.Run(ctx, env)
	if err == nil && ctx.Err() == nil {
		err = errors.New("returned without error before shutdown")
	}
	return err
}

// cleanupLoop deletes finished submissions and their files, and expires
// volatile keys.
func (r *Runtime) cleanupLoop(ctx context.Context) {
	lastExpiry, lastOrphans := time.Now(), time.Now()
	for {
		if time.Since(lastOrphans) >= r.o.OrphanAge {
			lastOrphans = time.Now()
			if _, err := r.SweepIncoming(ctx); err != nil && ctx.Err() == nil {
				r.o.Log.Error("sweeping the incoming directory failed", "error", err)
			}
		}
		changed := r.o.Queue.Changed()
		n, err := r.CleanupOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.o.Log.Error("cleanup failed", "error", err)
		}
		if time.Since(lastExpiry) >= r.o.KeyClearInterval {
			lastExpiry = time.Now()
			if k, err := r.o.Queue.ExpireKeys(ctx, r.o.KeyExpiration, r.o.KeyUnmodifiedExpiration); err != nil {
				r.o.Log.Error("expiring persistence keys failed", "error", err)
			} else if k > 0 {
				r.o.Log.Debug("expired volatile persistence keys", "count", k)
			}
		}
		if n > 0 {
			continue
		}
		t := time.NewTimer(r.o.CleanupInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-changed:
			t.Stop()
		case <-t.C:
		}
	}
}

// CleanupOnce deletes up to 500 finished submissions: files first, then the
// record, so a crash in between leaves a record whose cleanup is retried.
func (r *Runtime) CleanupOnce(ctx context.Context) (int, error) {
	done, err := r.o.Queue.Finished(ctx, 500)
	if err != nil || len(done) == 0 {
		return 0, err
	}
	ids := make([]int64, 0, len(done))
	for _, f := range done {
		if f.HasFiles {
			if err := os.RemoveAll(filepath.Join(r.o.IncomingDir, f.UUID)); err != nil {
				return 0, fmt.Errorf("removing files of %s: %w", f.UUID, err)
			}
		}
		ids = append(ids, f.ID)
	}
	if err := r.o.Queue.Delete(ctx, ids); err != nil {
		return 0, err
	}
	r.o.Stats.Add("runtime", "cleaned", int64(len(ids)))
	return len(ids), nil
}
