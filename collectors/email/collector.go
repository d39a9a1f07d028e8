package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
	"github.com/ace-collector/ace-collector/collectors/common/mailrules"
)

// Collector scans the spool directory.
type Collector struct {
	cfg Config
	now func() time.Time // for tests

	// unreadable remembers files that could not be read, so each is
	// logged once rather than every scan.
	unreadable map[string]bool
}

var _ collector.DirInputs = (*Collector)(nil)

// InputDirs is the spool directory (collector.DirInputs).
func (c *Collector) InputDirs() []string { return []string{c.cfg.SpoolDir} }

// errStore marks a Submit failure that is not the submission's fault:
// the file is kept and the scan retried after a backoff.
type errStore struct{ err error }

func (e *errStore) Error() string { return e.err.Error() }
func (e *errStore) Unwrap() error { return e.err }

// Run scans until ctx is done.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	if err := os.MkdirAll(c.cfg.SpoolDir, 0o750); err != nil {
		return fmt.Errorf("creating spool_dir: %w", err)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.unreadable = map[string]bool{}
	env.Log.Info("collector started", "directory", c.cfg.SpoolDir,
		"subdir_format", c.cfg.SubdirFormat, "rules", c.cfg.Rules.Len())
	defer env.Log.Info("collector stopped", "directory", c.cfg.SpoolDir)
	backoff := time.Duration(0)
	for {
		n, err := c.scan(ctx, env)
		var wait time.Duration
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			if backoff == 0 {
				backoff = c.cfg.RetryMin
			} else {
				backoff = min(2*backoff, c.cfg.RetryMax)
			}
			var se *errStore
			if errors.As(err, &se) {
				env.Log.Warn("store unavailable; keeping the message and retrying", "error", err, "retry_in", backoff)
				env.Count("submit_retry", 1)
			} else {
				env.Log.Error("spool scan failed; retrying", "error", err, "retry_in", backoff)
				env.Count("scan_error", 1)
			}
			wait = backoff
		case n > 0:
			backoff = 0
			continue // there may be more already
		default:
			backoff = 0
			wait = c.cfg.ScanInterval
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

type entry struct {
	path string
	name string
	mod  time.Time
	key  time.Time // sort key
}

// scan processes every complete message once, oldest subdirectory first.
// It returns how many files it handled, and an *errStore if the store
// failed (the pass stops there).
func (c *Collector) scan(ctx context.Context, env *collector.Env) (int, error) {
	if changed, err := c.cfg.Rules.MaybeRefresh(c.cfg.RulesCheck); err != nil {
		env.Count("rules_reload_error", 1)
		env.Log.Error("rules file not reloaded; previous rules stay in force", "error", err)
	} else if changed {
		env.Log.Info("rules file loaded", "rules", c.cfg.Rules.Len())
	}
	ents, err := os.ReadDir(c.cfg.SpoolDir)
	if err != nil {
		return 0, fmt.Errorf("listing spool_dir: %w", err)
	}
	var dirs []entry
	var top []entry
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, ".") {
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // vanished
		}
		e := entry{path: filepath.Join(c.cfg.SpoolDir, name), name: name, mod: info.ModTime(), key: info.ModTime()}
		if de.IsDir() {
			if t, err := time.ParseInLocation(c.cfg.SubdirLayout, name, time.Local); err == nil {
				e.key = t
			}
			dirs = append(dirs, e)
		} else if info.Mode().IsRegular() && !strings.HasSuffix(name, ".new") {
			top = append(top, e)
		}
	}
	sortEntries(dirs)
	sortEntries(top)
	// Files dropped straight into spool_dir are older than any layout.
	handled, err := c.processAll(ctx, env, top)
	if err != nil || ctx.Err() != nil {
		return handled, err
	}
	for _, d := range dirs {
		n, err := c.scanDir(ctx, env, d)
		handled += n
		if err != nil || ctx.Err() != nil {
			return handled, err
		}
	}
	return handled, nil
}

// processAll takes files in order until the first store failure or
// shutdown, returning how many it handled.
func (c *Collector) processAll(ctx context.Context, env *collector.Env, files []entry) (int, error) {
	handled := 0
	for _, f := range files {
		if ctx.Err() != nil {
			return handled, nil
		}
		done, err := c.process(ctx, env, f)
		if err != nil {
			return handled, err
		}
		if done {
			handled++
		}
	}
	return handled, nil
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool {
		if !es[i].key.Equal(es[j].key) {
			return es[i].key.Before(es[j].key)
		}
		return es[i].name < es[j].name
	})
}

func (c *Collector) scanDir(ctx context.Context, env *collector.Env, d entry) (int, error) {
	ents, err := os.ReadDir(d.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			env.Log.Warn("cannot list spool subdirectory", "dir", d.path, "error", err)
		}
		return 0, nil
	}
	var files []entry
	pending := 0
	for _, de := range ents {
		name := de.Name()
		if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".new") || de.IsDir() {
			pending++ // in progress (or not ours): the directory is not empty
			continue
		}
		info, err := de.Info()
		if err != nil || !info.Mode().IsRegular() {
			pending++
			continue
		}
		files = append(files, entry{path: filepath.Join(d.path, name), name: name, mod: info.ModTime(), key: info.ModTime()})
	}
	sortEntries(files)
	handled, err := c.processAll(ctx, env, files)
	if err != nil || ctx.Err() != nil {
		return handled, err
	}
	if pending == 0 {
		c.removeIfPast(env, d)
	}
	return handled, nil
}

// removeIfPast removes an empty subdirectory of a past hour. The current
// hour's directory is never removed (an MDA may be about to write to it:
// ACE's race), nor one whose name is not in the configured format, nor one
// changed within empty_dir_grace. os.Remove fails on a non-empty directory,
// so a file that arrived meanwhile is never lost.
func (c *Collector) removeIfPast(env *collector.Env, d entry) {
	now := c.now()
	t, err := time.ParseInLocation(c.cfg.SubdirLayout, d.name, time.Local)
	if err != nil {
		return
	}
	cur, err := time.ParseInLocation(c.cfg.SubdirLayout, now.Format(c.cfg.SubdirLayout), time.Local)
	if err != nil || !t.Before(cur) || d.name == now.Format(c.cfg.SubdirLayout) {
		return
	}
	info, err := os.Stat(d.path)
	if err != nil || now.Sub(info.ModTime()) < c.cfg.EmptyDirGrace {
		return
	}
	if err := os.Remove(d.path); err == nil {
		env.Log.Debug("removed empty spool subdirectory", "dir", d.path)
	}
}

// parse extracts from the open message file, streaming it (above
// max_parse_size, only its header is read, to bound the time spent).
func (c *Collector) parse(f *os.File, size int64) (*mailparse.Result, error) {
	if size > c.cfg.MaxParseSize {
		prefix, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<20))
		if err != nil {
			return nil, err
		}
		reason := fmt.Sprintf("message of %d bytes exceeds max_parse_size (%d): only the header was read", size, c.cfg.MaxParseSize)
		return mailparse.ParseHeaderOnly(prefix, int(size), reason, c.cfg.Parse), nil
	}
	return mailparse.ParseReader(io.NewSectionReader(f, 0, size), size, c.cfg.Parse), nil
}

// rulesFor evaluates the routing rules; raw conditions read the file.
func (c *Collector) rulesFor(res *mailparse.Result, f *os.File, size int64) mailrules.Decision {
	return c.cfg.Rules.Evaluate(&mailrules.Message{Header: res.Header, Raw: f, RawSize: size})
}
