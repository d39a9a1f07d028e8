package filedrop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// Run watches and scans the drop directory until ctx is done.
func (c *Collector) Run(ctx context.Context, env *collector.Env) error {
	if err := os.MkdirAll(c.cfg.Dir, 0o750); err != nil {
		return fmt.Errorf("creating directory: %w", err)
	}
	// The walk does not follow a symlinked root; resolve it once.
	if real, err := filepath.EvalSymlinks(c.cfg.Dir); err != nil {
		return fmt.Errorf("resolving directory: %w", err)
	} else if real != filepath.Clean(c.cfg.Dir) {
		env.Log.Info("filedrop: directory is a symbolic link; watching its target", "directory", c.cfg.Dir, "target", real)
		c.cfg.Dir = real
	}
	if c.cfg.After == AfterMove {
		if err := os.MkdirAll(c.cfg.DoneDir, 0o750); err != nil {
			return fmt.Errorf("creating done_directory: %w", err)
		}
	}
	if err := resetInflight(filepath.Join(c.cfg.Dir, InflightDir)); err != nil {
		return err
	}
	if c.now == nil {
		c.now = time.Now
	}
	// trigger holds at most one pending "scan now": bursts of events
	// coalesce into one scan.
	trigger := make(chan struct{}, 1)
	w, err := startWatcher(env, c.cfg, trigger)
	if err != nil {
		env.Count("watch_failed", 1)
		env.Log.Warn("filedrop: cannot watch the directory; relying on the periodic rescan",
			"directory", c.cfg.Dir, "rescan_interval", c.cfg.Rescan, "error", err)
	}
	defer w.close()
	defer env.Log.Info("collector stopped", "directory", c.cfg.Dir)
	env.Log.Info("collector started", "directory", c.cfg.Dir, "recursive", c.cfg.Recursive,
		"after", c.cfg.After, "rescan_interval", c.cfg.Rescan, "min_age", c.cfg.MinAge)

	st := newRunState()
	var backoff time.Duration
	for {
		handled, due, err := c.pass(ctx, env, st, w)
		if ctx.Err() != nil {
			return nil
		}
		var storeErr *errStore
		var wait time.Duration
		switch {
		case errors.As(err, &storeErr):
			if backoff == 0 {
				backoff = c.cfg.RetryMin
			} else {
				backoff = min(2*backoff, c.cfg.RetryMax)
			}
			env.Log.Warn("filedrop: store unavailable; keeping the file and retrying",
				"error", err, "retry_in", backoff)
			if !sleep(ctx, backoff) {
				return nil
			}
			continue
		case err != nil:
			return err // the directory cannot be listed: let the runtime restart us
		case handled > 0:
			backoff = 0
			continue // more may have arrived while we worked
		default:
			backoff = 0
			wait = c.cfg.Rescan
			if !due.IsZero() {
				wait = max(min(wait, due.Sub(c.now())), time.Millisecond)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-trigger:
			t.Stop()
		case <-t.C:
		}
	}
}

// pass lists the directory and takes every ready file, oldest first, with
// up to Workers files in flight (each Submit waits for a store commit;
// concurrent ones share it). It stops taking files at the first store
// failure.
func (c *Collector) pass(ctx context.Context, env *collector.Env, st *runState, w *watcher) (int, time.Time, error) {
	l, err := c.list(env, st, w.add)
	env.Count("scans", 1)
	if err != nil {
		return 0, time.Time{}, err
	}
	var (
		mu       sync.Mutex
		next     int
		handled  int
		firstErr error
		wg       sync.WaitGroup
	)
	take := func() (candidate, bool) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr != nil || next >= len(l.ready) || ctx.Err() != nil {
			return candidate{}, false
		}
		next++
		return l.ready[next-1], true
	}
	for i := 0; i < min(c.cfg.Workers, len(l.ready)); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f, ok := take(); ok; f, ok = take() {
				out, err := c.process(ctx, env, st, f)
				mu.Lock()
				switch {
				case err != nil:
					if firstErr == nil {
						firstErr = err
					}
				case out == submitted, out == rejected:
					handled++
				case out == changed:
					// Still being written: look again soon even without events.
					retry := c.now().Add(c.cfg.RetryMin)
					if l.due.IsZero() || retry.Before(l.due) {
						l.due = retry
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return handled, l.due, firstErr
}

// resetInflight creates the in-flight directory and empties it: links
// left by a previous run that stopped mid-submission are only second
// names of files still in the drop directory (or already stored).
func resetInflight(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("listing %s: %w", dir, err)
	}
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("cleaning %s: %w", dir, err)
		}
	}
	return nil
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
