package filedrop

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/ace-collector/ace-collector/collector"
)

// errChanged means the file is no longer the one that was submitted (it
// was written to or replaced meanwhile); it is left to be taken again.
var errChanged = errors.New("file changed after it was read")

// dispose deletes a submitted file or moves it to done_directory.
func (c *Collector) dispose(f candidate) error {
	if c.cfg.After == AfterMove {
		_, err := moveInto(c.cfg.DoneDir, f, true)
		return err
	}
	return removeIfSame(f)
}

// removeIfSame removes f unless it is already gone (the runtime moved it,
// as DeleteSource asks) or the name now holds different content, which
// is left to be taken on its own.
func removeIfSame(f candidate) error {
	cur, err := os.Lstat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stat %s: %w", f.path, err)
	}
	if !sameFile(cur, f.info) {
		return errChanged
	}
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", f.path, err)
	}
	return nil
}

// moveInto moves f to root/<its path relative to the drop directory>,
// under a unique name, and returns where it went. With check, a file that
// changed since it was read is left in place (errChanged). Across
// filesystems the file is copied (and synced) and then removed.
func moveInto(root string, f candidate, check bool) (string, error) {
	cur, err := os.Lstat(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", f.path, err)
	}
	if check && !sameFile(cur, f.info) {
		return "", errChanged
	}
	dst := filepath.Join(root, f.rel)
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
	}
	if dst, err = uniquePath(dst); err != nil {
		return "", err
	}
	err = os.Rename(f.path, dst)
	if errors.Is(err, syscall.EXDEV) {
		err = copyThenRemove(f.path, dst, cur)
	}
	if err != nil {
		return "", fmt.Errorf("moving %s to %s: %w", f.path, dst, err)
	}
	return dst, nil
}

// copyThenRemove copies src to dst durably (temporary name, fsync,
// rename), keeps its modification time, then removes src.
func copyThenRemove(src, dst string, info fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".filedrop-*")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chtimes(tmp.Name(), info.ModTime(), info.ModTime()); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return err
	}
	ok = true
	return os.Remove(src)
}

// reject moves f to DIRECTORY/.rejected (never rescanned) with a log line;
// if even that fails the file is remembered so it is not submitted again.
func (c *Collector) reject(env *collector.Env, st *runState, f candidate, reason string) outcome {
	dst, err := moveInto(filepath.Join(c.cfg.Dir, RejectedDir), f, false)
	if err != nil {
		c.deferDisposal(env, st, f, reason, err)
		return rejected
	}
	if dst == "" {
		env.Count("vanished", 1)
		env.Log.Warn("filedrop: rejected file vanished before it could be moved aside", "path", f.path, "reason", reason)
		return rejected
	}
	env.Log.Error("filedrop: file rejected and moved aside", "path", f.path, "to", dst, "reason", reason)
	return rejected
}

// tooLarge rejects a file bigger than max_file_size.
func (c *Collector) tooLarge(env *collector.Env, st *runState, f candidate) outcome {
	env.Drop("too_large", 1)
	return c.reject(env, st, f, fmt.Sprintf("larger than max_file_size (%d bytes)", c.cfg.MaxSize))
}

// deferDisposal records a file whose deletion, move or rejection failed.
func (c *Collector) deferDisposal(env *collector.Env, st *runState, f candidate, reason string, err error) {
	if errors.Is(err, errChanged) {
		env.Count("changed_after_submit", 1)
		env.Log.Warn("filedrop: file changed after it was submitted; it will be submitted again",
			"path", f.path)
		return
	}
	env.Count("dispose_failed", 1)
	env.Log.Error("filedrop: cannot delete or move file; it will not be submitted again while it is unchanged",
		"path", f.path, "after", c.cfg.After, "reject_reason", reason, "error", err)
	st.mu.Lock()
	st.pending[f.path] = pendingFile{info: f.info, reject: reason}
	st.mu.Unlock()
}

// retryPending retries the disposal of a file that was already handled.
func (c *Collector) retryPending(env *collector.Env, st *runState, f candidate, p pendingFile) outcome {
	var err error
	if p.reject != "" {
		_, err = moveInto(filepath.Join(c.cfg.Dir, RejectedDir), f, false)
	} else {
		err = c.dispose(f)
	}
	if err != nil {
		env.Log.Debug("filedrop: disposal still failing", "path", f.path, "error", err)
		return skipped
	}
	st.mu.Lock()
	delete(st.pending, f.path)
	st.mu.Unlock()
	env.Log.Info("filedrop: delayed disposal done", "path", f.path, "after", c.cfg.After)
	if p.reject != "" {
		return rejected
	}
	return submitted
}
