package filedrop

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/fsnotify/fsnotify"
)

// watcher turns fsnotify events into scan triggers. A nil fsnotify watcher
// (it could not be started) makes every method a no-op, leaving the
// periodic rescan.
type watcher struct {
	fw     *fsnotify.Watcher
	env    *collector.Env
	done   chan struct{}
	failed map[string]bool // directories whose Add failed (logged once); Run goroutine only
}

// startWatcher starts the event goroutine; it always returns a watcher
// that is safe to use and close.
func startWatcher(env *collector.Env, cfg Config, trigger chan<- struct{}) (*watcher, error) {
	w := &watcher{env: env, failed: map[string]bool{}}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return w, fmt.Errorf("starting fsnotify: %w", err)
	}
	w.fw = fw
	w.done = make(chan struct{})
	go w.loop(cfg, trigger)
	return w, nil
}

// add watches dir. It is called on every scan for every directory
// scanned: adding a watched directory again is a cheap no-op, and a
// directory that was removed and re-created gets its watch back.
func (w *watcher) add(dir string) {
	if w.fw == nil {
		return
	}
	if err := w.fw.Add(dir); err != nil {
		if !w.failed[dir] {
			w.failed[dir] = true
			w.env.Count("watch_failed", 1)
			w.env.Log.Warn("filedrop: cannot watch directory; relying on the periodic rescan for it",
				"directory", dir, "error", err)
		}
		return
	}
	delete(w.failed, dir)
}

// close stops fsnotify and waits for the event goroutine.
func (w *watcher) close() {
	if w.fw == nil {
		return
	}
	if err := w.fw.Close(); err != nil {
		w.env.Log.Debug("filedrop: closing fsnotify", "error", err)
	}
	<-w.done
}

func (w *watcher) loop(cfg Config, trigger chan<- struct{}) {
	defer close(w.done)
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if wanted(ev, cfg) {
				poke(trigger)
			}
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				w.env.Count("watch_overflow", 1)
				w.env.Log.Warn("filedrop: fsnotify queue overflowed; rescanning", "directory", cfg.Dir)
			} else {
				w.env.Log.Warn("filedrop: fsnotify error; rescanning", "directory", cfg.Dir, "error", err)
			}
			poke(trigger)
		}
	}
}

// wanted reports whether an event may have made a file ready: a name
// created or renamed into place (fsnotify reports the new name of a rename
// as Create), or, with min_age, a write (which moves the file's ready time).
func wanted(ev fsnotify.Event, cfg Config) bool {
	if ignoredName(filepath.Base(ev.Name)) {
		return false
	}
	return ev.Has(fsnotify.Create) || (cfg.MinAge > 0 && ev.Has(fsnotify.Write))
}

// poke requests a scan without blocking; a pending request already covers
// this one.
func poke(trigger chan<- struct{}) {
	select {
	case trigger <- struct{}{}:
	default:
	}
}
