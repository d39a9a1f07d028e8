package filedrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// candidate is a file the scan found ready to be taken.
type candidate struct {
	path string // full path
	rel  string // path relative to the drop directory
	info fs.FileInfo
}

// listing is the result of one scan of the drop directory.
type listing struct {
	ready []candidate // oldest modification time first
	// due is the earliest time a file that is still too young (min_age)
	// becomes ready; zero if there is none.
	due time.Time
}

// list walks the drop directory (one level, or all of it if recursive),
// registering every directory it enters with watch, and returns the files
// ready to be taken. Entries that vanish during the walk are skipped.
func (c *Collector) list(env *collector.Env, st *runState, watch func(dir string)) (listing, error) {
	var out listing
	now := c.now()
	seen := map[string]bool{}
	visit := func(path string, d fs.DirEntry) {
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				env.Count("vanished", 1)
				return
			}
			st.noteOdd(env, path, "cannot stat", err)
			return
		}
		if !info.Mode().IsRegular() {
			st.noteOdd(env, path, "not a regular file (symlink, device, fifo or socket); left alone", nil)
			return
		}
		seen[path] = true
		if c.cfg.MinAge > 0 {
			if ready := info.ModTime().Add(c.cfg.MinAge); ready.After(now) {
				if out.due.IsZero() || ready.Before(out.due) {
					out.due = ready
				}
				return
			}
		}
		rel, err := filepath.Rel(c.cfg.Dir, path)
		if err != nil {
			rel = d.Name()
		}
		out.ready = append(out.ready, candidate{path: path, rel: rel, info: info})
	}
	watch(c.cfg.Dir)
	err := filepath.WalkDir(c.cfg.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == c.cfg.Dir {
				return err
			}
			if !errors.Is(err, fs.ErrNotExist) {
				st.noteOdd(env, path, "cannot read", err)
			}
			return nil // vanished or unreadable subdirectory: skip it
		}
		if path == c.cfg.Dir {
			return nil
		}
		if ignoredName(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if !c.cfg.Recursive {
				return filepath.SkipDir
			}
			// Watch before WalkDir reads the directory: a file created
			// after this raises an event, one created before is listed.
			watch(path)
			return nil
		}
		visit(path, d)
		return nil
	})
	if err != nil {
		return out, fmt.Errorf("listing directory %s: %w", c.cfg.Dir, err)
	}
	st.forgetOdd(seen)
	for p := range st.pending {
		if !seen[p] {
			delete(st.pending, p) // gone (removed by someone else)
		}
	}
	sort.SliceStable(out.ready, func(i, j int) bool {
		a, b := out.ready[i].info.ModTime(), out.ready[j].info.ModTime()
		if !a.Equal(b) {
			return a.Before(b)
		}
		return out.ready[i].path < out.ready[j].path
	})
	return out, nil
}

// runState is what one Run remembers between scans.
type runState struct {
	// mu guards the fields below while workers process files concurrently.
	mu sync.Mutex
	// odd holds paths that were logged as unusable, so each is logged and
	// counted once while it stays.
	odd map[string]bool
	// pending holds files that were submitted (or are to be rejected)
	// but could not be deleted or moved; they are never submitted again
	// while they are the same file, and their disposal is retried.
	pending map[string]pendingFile
	// noLink is set once hard-linking into the in-flight directory failed
	// (logged once).
	noLink bool
}

type pendingFile struct {
	info   fs.FileInfo
	reject string // non-empty: move to .rejected for this reason; else after-submit action
}

func newRunState() *runState {
	return &runState{odd: map[string]bool{}, pending: map[string]pendingFile{}}
}

func (st *runState) noteOdd(env *collector.Env, path, what string, err error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.odd[path] {
		return
	}
	st.odd[path] = true
	env.Count("ignored", 1)
	if err != nil {
		env.Log.Warn("filedrop: skipping entry: "+what, "path", path, "error", err)
	} else {
		env.Log.Warn("filedrop: skipping entry: "+what, "path", path)
	}
}

// forgetOdd drops remembered odd entries that are gone or have become
// regular files (seen).
func (st *runState) forgetOdd(seen map[string]bool) {
	for p := range st.odd {
		if seen[p] {
			delete(st.odd, p)
		} else if _, err := os.Lstat(p); err != nil {
			delete(st.odd, p)
		}
	}
}

// sameFile reports whether two stats describe the same, unchanged file.
func sameFile(a, b fs.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
