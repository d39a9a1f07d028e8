package eve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collector"
)

// fileID identifies a file across renames.
type fileID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// position is the persisted read position of one configured path.
type position struct {
	Path   string `json:"path"` // where the file was when last read
	ID     fileID `json:"id"`
	Offset int64  `json:"offset"` // every byte before it is handled
	// Next is set after a rotated file was finished before its
	// successor appeared: read whatever file appears at Path from 0.
	Next bool `json:"next,omitempty"`
}

func stateKey(path string) string { return "eve:" + path }

// follower tails one configured path.
type follower struct {
	c    *Collector
	env  *collector.Env
	path string // configured path

	f        *os.File
	pos      position // of the open file; pos.Offset = next unread line
	saved    position // last persisted
	idleEOF  time.Time
	rd       *bufio.Reader
	rdOffset int64 // file offset rd reads from

	missing reminder // the configured path does not exist
	failing reminder // poll fails
}

// reminder rate-limits the log lines of a lasting problem: the first
// when it starts, then one every remindEvery while it lasts.
type reminder struct {
	since, logged time.Time // zero: no problem
	what          string    // the problem last logged
	suppressed    int       // occurrences not logged since
}

// due records an occurrence of the problem what at now and reports
// whether to log it: the first time, when the problem changed, or
// remindEvery after the last line.
func (r *reminder) due(now time.Time, what string, every time.Duration) bool {
	if r.since.IsZero() {
		r.since = now
	}
	if !r.logged.IsZero() && what == r.what && now.Sub(r.logged) < every {
		r.suppressed++
		return false
	}
	r.logged, r.what = now, what
	return true
}

// clear ends the problem and returns how long it lasted; ok is false if
// there was none.
func (r *reminder) clear(now time.Time) (lasted time.Duration, ok bool) {
	if r.since.IsZero() {
		return 0, false
	}
	lasted = now.Sub(r.since)
	*r = reminder{}
	return lasted, true
}

// reportMissing logs that the configured path does not exist: at WARN
// when first seen (at start, or when the file went away without a
// successor) and every remindEvery while it stays missing.
func (fl *follower) reportMissing() {
	now := fl.c.clock()
	first := fl.missing.since.IsZero()
	if !fl.missing.due(now, "missing", fl.c.reminderInterval()) {
		return
	}
	_, err := os.Stat(filepath.Dir(fl.path))
	if first {
		fl.env.Log.Warn("EVE file does not exist; waiting for it", "path", fl.path, "directory_exists", err == nil)
		return
	}
	fl.env.Log.Warn("EVE file still does not exist", "path", fl.path, "directory_exists", err == nil,
		"missing_for", now.Sub(fl.missing.since))
}

// errStopped means ctx ended while a submission was pending; the offset
// was not advanced past it.
var errStopped = errors.New("stopped")

// poll reads every complete line available and handles rotation and
// truncation. It returns errStopped when ctx ends during a submission.
func (fl *follower) poll(ctx context.Context) error {
	if fl.f == nil {
		if err := fl.open(ctx); err != nil {
			return err
		}
		if fl.f == nil {
			fl.reportMissing()
			return nil
		}
		if d, ok := fl.missing.clear(fl.c.clock()); ok {
			fl.env.Log.Info("EVE file appeared", "path", fl.f.Name(), "missing_for", d)
		}
	}
	if fl.pos.Offset > 0 && !fl.atLineStart() {
		// The position always follows a newline; if the byte before it is
		// something else, the file was truncated and rewritten past our
		// offset between two polls (copytruncate).
		fl.env.Count("truncated", 1)
		fl.env.Log.Info("EVE file rewritten under us, reading from the start", "path", fl.pos.Path, "offset", fl.pos.Offset)
		fl.pos.Offset = 0
		fl.resetReader()
	}
	for {
		if err := fl.readLines(ctx); err != nil {
			return err
		}
		fi, err := fl.f.Stat()
		if err != nil {
			return fmt.Errorf("eve: stat %s: %w", fl.pos.Path, err)
		}
		if fi.Size() < fl.pos.Offset {
			fl.env.Count("truncated", 1)
			fl.env.Log.Info("EVE file truncated, reading from the start", "path", fl.pos.Path, "offset", fl.pos.Offset, "size", fi.Size())
			fl.pos.Offset = 0
			fl.resetReader()
			if err := fl.save(ctx); err != nil {
				return err
			}
			continue
		}
		switched, err := fl.checkRotation(ctx, fi)
		if err != nil || !switched {
			return err
		}
		// The new file is open; read it too.
	}
}

// open opens the configured path and positions it from the saved state.
// If the saved file was renamed away (rotated while we were down) and can
// still be found beside the path, it is finished first.
func (fl *follower) open(ctx context.Context) error {
	var saved *position
	if b, ok, err := fl.env.State.Get(ctx, stateKey(fl.path)); err != nil {
		return fmt.Errorf("eve: reading state of %s: %w", fl.path, err)
	} else if ok {
		var p position
		if err := json.Unmarshal(b, &p); err != nil {
			fl.env.Log.Error("EVE state unreadable, starting the file over", "path", fl.path, "error", err)
			fl.env.Count("state_corrupt", 1)
		} else {
			saved = &p
		}
	}
	fi, err := os.Stat(fl.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("eve: stat %s: %w", fl.path, err)
	}
	if saved != nil && saved.Next {
		if fi == nil {
			return nil
		}
		return fl.openFile(ctx, fl.path, 0)
	}
	if saved != nil && (fi == nil || identityOf(fi) != saved.ID) {
		if old := fl.findRotated(saved.ID, saved.Path); old != "" {
			fl.env.Log.Info("finishing rotated EVE file", "path", old, "offset", saved.Offset)
			return fl.openFile(ctx, old, saved.Offset)
		}
		if fi != nil {
			fl.env.Log.Warn("EVE file replaced while stopped and the old one is gone; reading the new file from the start",
				"path", fl.path, "old_offset", saved.Offset)
			fl.env.Count("rotated_file_missing", 1)
		}
		saved = nil
	}
	if fi == nil {
		return nil // not there yet
	}
	offset := int64(0)
	switch {
	case saved != nil:
		offset = saved.Offset
	case fl.c.cfg.StartAtEnd:
		offset = lastLineEnd(fl.path, fi.Size())
	}
	return fl.openFile(ctx, fl.path, offset)
}

// findRotated looks for the file with identity id: at last, where it was
// last read, then beside the configured path under a name starting with
// the configured one (eve.json.1, eve.json-20240102).
func (fl *follower) findRotated(id fileID, last string) string {
	if id == (fileID{}) {
		return ""
	}
	if fi, err := os.Stat(last); err == nil && last != fl.path && identityOf(fi) == id {
		return last
	}
	dir := filepath.Dir(fl.path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	base := filepath.Base(fl.path)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), base) || e.IsDir() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if fi, err := os.Stat(p); err == nil && identityOf(fi) == id {
			return p
		}
	}
	return ""
}

func (fl *follower) openFile(ctx context.Context, path string, offset int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("eve: opening %s: %w", path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("eve: stat %s: %w", path, err)
	}
	if offset > fi.Size() {
		fl.env.Count("truncated", 1)
		offset = 0
	}
	fl.f = f
	fl.pos = position{Path: path, ID: identityOf(fi), Offset: offset}
	fl.resetReader()
	fl.idleEOF = time.Time{}
	return fl.save(ctx)
}

func (fl *follower) resetReader() {
	fl.rd = nil
}

func (fl *follower) close() {
	if fl.f != nil {
		_ = fl.f.Close()
		fl.f = nil
	}
}

// save persists the position if it changed.
func (fl *follower) save(ctx context.Context) error {
	if fl.pos == fl.saved {
		return nil
	}
	b, _ := json.Marshal(fl.pos)
	if err := fl.env.State.Put(ctx, stateKey(fl.path), b); err != nil {
		return fmt.Errorf("eve: saving position of %s: %w", fl.path, err)
	}
	fl.saved = fl.pos
	return nil
}

// checkRotation runs at EOF. When the configured path now names another
// file, the open one was renamed away; once the writer has moved on (the
// new file has data, or the old one was idle for rotate_wait) the old
// file's unterminated last line is handled and the new file opened.
func (fl *follower) checkRotation(ctx context.Context, open os.FileInfo) (bool, error) {
	fi, err := os.Stat(fl.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("eve: stat %s: %w", fl.path, err)
	}
	if fi != nil && identityOf(fi) == fl.pos.ID && fl.pos.ID != (fileID{}) {
		fl.idleEOF = time.Time{}
		return false, nil // still the same file
	}
	if fi == nil && fl.pos.Path == fl.path {
		return false, nil // renamed, no new file yet: keep reading the old one
	}
	if fi != nil && fl.pos.ID == (fileID{}) {
		return false, nil // no identities on this platform
	}
	if fl.idleEOF.IsZero() {
		fl.idleEOF = time.Now()
	}
	if (fi == nil || fi.Size() == 0) && time.Since(fl.idleEOF) < fl.c.cfg.RotateWait {
		return false, nil
	}
	if open.Size() > fl.pos.Offset { // a last line without newline
		rest := make([]byte, open.Size()-fl.pos.Offset)
		if _, err := fl.f.ReadAt(rest, fl.pos.Offset); err != nil && err != io.EOF {
			return false, fmt.Errorf("eve: reading the end of %s: %w", fl.pos.Path, err)
		}
		fl.env.Count("unterminated_last_line", 1)
		if err := fl.handle(ctx, rest, fl.pos.Offset, int64(len(rest))); err != nil {
			return false, err
		}
	}
	fl.env.Count("rotated", 1)
	fl.env.Log.Info("EVE file rotated", "old", fl.pos.Path, "path", fl.path)
	fl.close()
	if fi == nil {
		fl.pos = position{Path: fl.path, Next: true}
		return false, fl.save(ctx)
	}
	if err := fl.openFile(ctx, fl.path, 0); err != nil {
		return false, err
	}
	return true, nil
}

// atLineStart reports whether the byte before the position is a newline.
func (fl *follower) atLineStart() bool {
	var b [1]byte
	if _, err := fl.f.ReadAt(b[:], fl.pos.Offset-1); err != nil {
		return true // shorter than the offset: the size check handles it
	}
	return b[0] == '\n'
}

// lastLineEnd returns the offset just after the last newline in the final
// 1 MiB of the file (start_at = end must not start inside a line), or size
// when none is found there.
func lastLineEnd(path string, size int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return size
	}
	defer f.Close()
	n := min(size, 1<<20)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return size
	}
	if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
		return size - n + int64(i) + 1
	}
	return size
}
