package collector

// The sweep of incoming_dir, at start-up and every OrphanAge while running.
//
// It never deletes what it cannot prove is its own, and never deletes a
// submission. Each top-level entry of incoming_dir is decided by this table
// (first matching row wins):
//
//	entry                                         | action
//	----------------------------------------------+-----------------------------------------------
//	not a directory (file, symlink, ...), or a    | foreign: left alone, logged once (WARN, named),
//	  directory whose name the runtime never      |   counted incoming_foreign_entries
//	  makes (not <uuid>, .ace-staging-<uuid>,     |
//	  .ace-set-aside)                             |
//	.ace-set-aside/                               | left alone (the operator's)
//	staged or committed by a Submit of this       | left alone (in flight)
//	  process that has not returned yet           |
//	shared incoming (MySQL) and modified less     | left alone until a later sweep: another
//	  than OrphanAge ago                          |   instance may be staging it
//	.ace-staging-<uuid>/                          | removed (orphan_dirs_removed): staging renames
//	                                              |   it to <uuid> before the commit, so under this
//	                                              |   name nothing was ever committed, whatever
//	                                              |   state the store is in; the source kept its input
//	<uuid>/ with a record in the store            | kept (backlog; cleanup removes it once delivered)
//	<uuid>/ without a record, valid manifest      | re-enqueued from the manifest (orphan_dirs_requeued)
//	<uuid>/ without a record, manifest missing,   | moved to .ace-set-aside/<uuid> (orphan_dirs_set_aside),
//	  unreadable or inconsistent                  |   ERROR naming it: it cannot be rebuilt (staged
//	                                              |   by a version without manifests, or damaged)
//
// If the store cannot look records up or take a re-enqueue, the sweep fails
// (having removed at most .ace-staging-* leftovers, and no submission) and
// start-up refuses (Run returns the error). `recover` applies the same rows with the daemon stopped
// (SetAsideLost): lost submissions with a manifest stay for the next start,
// the others go beside the damaged database.
//
// Why a <uuid>/ directory with a manifest and no record is re-enqueued even
// when it may be a crash leftover (renamed into place, then the process died
// before the commit): its manifest is written and fsync'd only once every
// file is, so the submission is complete. Telling "the commit never happened"
// from "the store lost the commit" would rest on the store's own record of
// its history, which is what the damage destroys: a WAL whose pages were
// overwritten or deleted rolls the store back to an earlier commit, and every
// record lost after it then looks exactly like a young crash leftover; a
// database truncated or deleted comes back empty, which is not a fresh
// install when incoming_dir holds submissions. Guessing wrong one way deletes
// data; the other way delivers a submission whose Submit never returned
// (the source kept its input and submits it again): a duplicate, which
// at-least-once delivery allows, and which the dedup key (re-remembered here)
// often prevents. The store's identity (id, creation time) recorded in
// store_meta and in each manifest only decides how loudly this is reported:
// a manifest from another store id or from before the store existed means
// the store was deleted, truncated or replaced (ERROR); otherwise a commit
// was interrupted or lost (WARN).
//
// A dedup key that is still remembered does not stop a re-enqueue (the
// record is enqueued again without it): `recover` salvages tables
// independently, so a key can outlive the record it came with.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// SweepReport says what one sweep of incoming_dir did.
type SweepReport struct {
	Removed  int // .ace-staging-<uuid> leftovers of staging never committed
	Requeued int // submissions without a record, re-enqueued from their manifests
	// FromEarlierStore: of Requeued, those staged for another store id
	// or before this store existed: the store was replaced.
	FromEarlierStore int
	SetAside         int // no record and no usable manifest: moved to .ace-set-aside/
	Kept             int // submissions with a record
	Skipped          int // in flight, or too recent in a shared incoming_dir
	Foreign          int // entries the project did not create, left alone
}

const (
	sweepBatch      = 500 // entries read, and records looked up, at a time
	requeueParallel = 64  // concurrent re-enqueues, so they share group commits
	sweepLogLimit   = 20  // entries named individually per sweep and kind
)

type entryKind int

const (
	entryForeign entryKind = iota
	entrySubmission
	entryStaging
	entrySetAside
)

// classify names what the runtime makes in incoming_dir; everything else
// is foreign. Only real directories count: never a symlink.
func classify(e fs.DirEntry) entryKind {
	if !e.IsDir() {
		return entryForeign
	}
	name := e.Name()
	switch {
	case IsSubmissionDirName(name):
		return entrySubmission
	case strings.HasPrefix(name, StagingPrefix) && IsSubmissionDirName(name[len(StagingPrefix):]):
		return entryStaging
	case name == SetAsideName:
		return entrySetAside
	}
	return entryForeign
}

// SweepIncoming applies the table at the top of this file to incoming_dir.
// It fails only when it cannot read the directory, remove or move an
// entry, or re-enqueue a submission: start-up then refuses rather than
// run with a backlog it could not account for.
func (r *Runtime) SweepIncoming(ctx context.Context) (SweepReport, error) {
	var rep SweepReport
	meta := r.storeMeta(ctx)
	d, err := os.Open(r.o.IncomingDir)
	if err != nil {
		return rep, fmt.Errorf("runtime: reading incoming dir: %w", err)
	}
	defer d.Close()
	sw := &sweep{r: r, meta: meta, rep: &rep}
	if r.o.SharedIncoming {
		sw.cutoff = time.Now().Add(-r.o.OrphanAge)
	}
	for {
		ents, rerr := d.ReadDir(sweepBatch)
		if err := sw.batch(ctx, ents); err != nil {
			sw.log()
			return rep, err
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			sw.log()
			return rep, fmt.Errorf("runtime: reading incoming dir: %w", rerr)
		}
	}
	sw.log()
	return rep, nil
}

// sweep is one run of SweepIncoming.
type sweep struct {
	r      *Runtime
	meta   StoreMeta
	cutoff time.Time // shared incoming: entries modified after it are skipped
	rep    *SweepReport
	mu     sync.Mutex // rep and logged, during re-enqueues
	logged struct{ requeued, setAside int }
}

func (sw *sweep) batch(ctx context.Context, ents []fs.DirEntry) error {
	r := sw.r
	var names []string
	for _, e := range ents {
		kind := classify(e)
		switch {
		case kind == entryForeign:
			sw.rep.Foreign++
			r.warnForeign(e.Name())
			continue
		case kind == entrySetAside:
			continue
		case sw.busy(e, kind):
			sw.rep.Skipped++
			continue
		case kind == entryStaging:
			if err := os.RemoveAll(filepath.Join(r.o.IncomingDir, e.Name())); err != nil {
				return fmt.Errorf("runtime: removing unfinished staging directory %s: %w", e.Name(), err)
			}
			sw.rep.Removed++
			r.o.Stats.Add("runtime", "orphan_dirs_removed", 1)
			continue
		}
		names = append(names, e.Name())
	}
	if len(names) == 0 {
		return nil
	}
	known, err := r.o.Queue.Existing(ctx, names)
	if err != nil {
		return fmt.Errorf("runtime: looking up the records of staged submissions: %w", err)
	}
	var lost []*Manifest
	for _, name := range names {
		if known[name] {
			sw.rep.Kept++
			continue
		}
		dir := filepath.Join(r.o.IncomingDir, name)
		m, err := ReadManifest(dir)
		if err == nil {
			lost = append(lost, m)
			continue
		}
		if _, serr := os.Lstat(dir); errors.Is(serr, fs.ErrNotExist) {
			continue // cleaned up since it was listed (another instance)
		}
		if err := sw.setAside(name, err); err != nil {
			return err
		}
	}
	return sw.requeue(ctx, lost)
}

// busy reports entries the sweep must not judge yet: being staged by this
// process, or (shared incoming) recently modified, maybe by another one.
func (sw *sweep) busy(e fs.DirEntry, kind entryKind) bool {
	id := e.Name()
	if kind == entryStaging {
		id = id[len(StagingPrefix):]
	}
	if sw.r.staging.has(id) {
		return true
	}
	if sw.cutoff.IsZero() {
		return false
	}
	info, err := e.Info()
	return err != nil || info.ModTime().After(sw.cutoff)
}

// requeue enqueues the records rebuilt from lost, several at a time.
func (sw *sweep) requeue(ctx context.Context, lost []*Manifest) error {
	sem := make(chan struct{}, requeueParallel)
	var wg sync.WaitGroup
	var errs []error
	for _, m := range lost {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := sw.requeueOne(ctx, m)
			sw.mu.Lock()
			defer sw.mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("runtime: re-enqueuing %d of %d staged submissions whose record is missing "+
			"(their files are kept; start again once the store accepts writes): %w", len(errs), len(lost), err)
	}
	return nil
}

func (sw *sweep) requeueOne(ctx context.Context, m *Manifest) error {
	r := sw.r
	w, fellBack := m.work(r.o.Groups)
	dup, skipped, err := r.o.Queue.Enqueue(ctx, w)
	if err == nil && dup {
		// The key outlived its record: store it anyway (see the top).
		w.DedupSource, w.DedupKey = "", ""
		dup, skipped, err = r.o.Queue.Enqueue(ctx, w)
	}
	if err != nil {
		return fmt.Errorf("submission %s: %w", m.UUID, err)
	}
	if dup {
		return fmt.Errorf("submission %s: the store reported a duplicate without a dedup key", m.UUID)
	}
	for _, g := range skipped {
		r.o.Stats.Add("group:"+g, "skipped_coverage", 1)
	}
	r.o.Stats.Add("runtime", "orphan_dirs_requeued", 1)
	earlier := sw.fromEarlierStore(m)
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.rep.Requeued++
	if earlier {
		sw.rep.FromEarlierStore++
	}
	if sw.logged.requeued < sweepLogLimit {
		sw.logged.requeued++
		r.o.Log.Warn("staged submission had no record: re-enqueued from its manifest (it may be delivered twice)",
			"uuid", m.UUID, "collector", m.Collector, "staged_at", m.StagedAt, "store_replaced", earlier,
			"groups_fell_back_to_all", fellBack)
	}
	return nil
}

// fromEarlierStore reports a manifest written for another store, or before
// this store existed.
func (sw *sweep) fromEarlierStore(m *Manifest) bool {
	if sw.meta.ID == "" {
		return false
	}
	return (m.StoreID != "" && m.StoreID != sw.meta.ID) || m.StagedAt.Before(sw.meta.Created)
}

// setAside moves incoming_dir/name to incoming_dir/.ace-set-aside/name
// (never over an earlier one).
func (sw *sweep) setAside(name string, why error) error {
	r := sw.r
	base := filepath.Join(r.o.IncomingDir, SetAsideName)
	if err := os.MkdirAll(base, 0o750); err != nil {
		return fmt.Errorf("runtime: setting aside %s: %w", name, err)
	}
	dst := filepath.Join(base, name)
	if _, err := os.Lstat(dst); err == nil {
		dst += "." + time.Now().UTC().Format("20060102T150405.000000000Z")
	}
	if err := os.Rename(filepath.Join(r.o.IncomingDir, name), dst); err != nil {
		return fmt.Errorf("runtime: setting aside %s: %w", name, err)
	}
	if err := syncDir(base); err != nil {
		return err
	}
	if err := syncDir(r.o.IncomingDir); err != nil {
		return err
	}
	r.o.Stats.Add("runtime", "orphan_dirs_set_aside", 1)
	sw.rep.SetAside++
	if sw.logged.setAside < sweepLogLimit {
		sw.logged.setAside++
		r.o.Log.Error("staged files have no record and no usable manifest: moved aside, not deleted; "+
			"deliver or delete them by hand", "uuid", name, "path", dst, "error", why)
	}
	return nil
}

// log summarises a sweep.
func (sw *sweep) log() {
	r, rep := sw.r, sw.rep
	if rep.Removed > 0 {
		r.o.Log.Warn("removed unfinished staging directories (never committed; their sources kept the input)",
			"count", rep.Removed)
	}
	switch {
	case rep.FromEarlierStore > 0:
		r.o.Log.Error("the store is missing the records of staged submissions staged before it existed "+
			"or for another store: it was deleted, truncated or replaced; re-enqueued them from their manifests "+
			"(they may be delivered twice)", "requeued", rep.Requeued, "from_earlier_store", rep.FromEarlierStore,
			"store_id", sw.meta.ID, "store_created", sw.meta.Created)
	case rep.Requeued > 0:
		r.o.Log.Warn("re-enqueued staged submissions that had no record (a commit interrupted by a crash, "+
			"or lost by the store); they may be delivered twice", "requeued", rep.Requeued)
	}
	if rep.SetAside > 0 {
		r.o.Log.Error("staged files with no record and no usable manifest moved aside",
			"count", rep.SetAside, "path", filepath.Join(r.o.IncomingDir, SetAsideName))
	}
}

// foreignLimit bounds how many foreign names are remembered (and logged).
const foreignLimit = 10000

// warnForeign logs an entry the runtime did not create, once per process
// (up to foreignLimit names; beyond, one line says there are more).
func (r *Runtime) warnForeign(name string) {
	r.foreignMu.Lock()
	seen, n := r.foreign[name], len(r.foreign)
	if !seen && n <= foreignLimit {
		r.foreign[name] = true
	}
	r.foreignMu.Unlock()
	switch {
	case seen || n > foreignLimit:
	case n == foreignLimit:
		r.o.Log.Warn("incoming_dir holds more entries ace-collector did not create; left alone, not named",
			"incoming_dir", r.o.IncomingDir)
	default:
		r.o.Stats.Add("runtime", "incoming_foreign_entries", 1)
		r.o.Log.Warn("incoming_dir holds an entry ace-collector did not create; left alone "+
			"(incoming_dir should be used by ace-collector only)", "incoming_dir", r.o.IncomingDir, "name", name)
	}
}

// LostFiles says what SetAsideLost did.
type LostFiles struct {
	Requeue int // no record, but a manifest: left for the next start to re-enqueue
	Moved   int // no record and no usable manifest: moved to the destination
}

// SetAsideLost is the sweep's table for `recover`, which runs with the
// daemon stopped: of the submission directories in incoming that have no
// record (existing says which have one), those whose manifest can rebuild
// the record stay where they are, for the next start to re-enqueue; the
// others are moved into dst. Entries the project did not create, and
// .ace-staging-* leftovers (the next start removes them), are not touched.
func SetAsideLost(ctx context.Context, incoming, dst string,
	existing func(context.Context, []string) (map[string]bool, error)) (LostFiles, error) {
	var res LostFiles
	ents, err := os.ReadDir(incoming)
	if errors.Is(err, fs.ErrNotExist) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("reading incoming dir: %w", err)
	}
	var names []string
	for _, e := range ents {
		if classify(e) == entrySubmission {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return res, nil
	}
	known, err := existing(ctx, names)
	if err != nil {
		return res, fmt.Errorf("looking up the records of staged submissions: %w", err)
	}
	for _, name := range names {
		if known[name] {
			continue
		}
		if _, err := ReadManifest(filepath.Join(incoming, name)); err == nil {
			res.Requeue++
			continue
		}
		if err := os.MkdirAll(dst, 0o750); err != nil {
			return res, err
		}
		if err := os.Rename(filepath.Join(incoming, name), filepath.Join(dst, name)); err != nil {
			return res, err
		}
		res.Moved++
	}
	return res, nil
}
