package filedrop

import (
	"context"
	"crypto/md5"  //nolint:gosec // an observable, not a security control
	"crypto/sha1" //nolint:gosec // an observable, not a security control
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/google/uuid"
)

// outcome of processing one file.
type outcome int

const (
	skipped   outcome = iota // vanished, changed or not ready: nothing happened
	submitted                // submitted (and disposed of, or disposal pending)
	rejected                 // set aside in .rejected (or pending that)
	changed                  // being written: look again soon
)

// errStore marks a Submit failure that is not the submission's fault: the
// file stays and the pass is retried after a backoff.
type errStore struct{ err error }

func (e *errStore) Error() string { return e.err.Error() }
func (e *errStore) Unwrap() error { return e.err }

// hashed is what one read of a file yields.
type hashed struct {
	size                int64
	md5, sha1, sha256   string
	tooLarge, changedIO bool
}

// process takes one file: claim, hash, submit, dispose. It returns an
// *errStore when the sink could not store it (the file is left in place).
func (c *Collector) process(ctx context.Context, env *collector.Env, st *runState, f candidate) (outcome, error) {
	st.mu.Lock()
	p, ok := st.pending[f.path]
	if ok && !sameFile(p.info, f.info) {
		delete(st.pending, f.path) // a new file under the old name
		ok = false
	}
	st.mu.Unlock()
	if ok {
		return c.retryPending(env, st, f, p), nil
	}
	if c.cfg.MaxSize > 0 && f.info.Size() > c.cfg.MaxSize {
		return c.tooLarge(env, st, f), nil
	}
	link, err := c.claim(env, st, f)
	if errors.Is(err, fs.ErrNotExist) {
		env.Count("vanished", 1)
		return skipped, nil
	}
	src := f.path
	if link != "" {
		src = link
		defer removeLink(env, link)
	}
	h, info, err := c.hash(f, src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		env.Count("vanished", 1)
		return skipped, nil
	case err != nil:
		st.noteOdd(env, f.path, "cannot read", err)
		return skipped, nil
	case h.tooLarge:
		return c.tooLarge(env, st, f), nil
	case h.changedIO:
		env.Count("changed_while_reading", 1)
		env.Log.Debug("filedrop: file changed while it was read; retrying later", "path", f.path)
		return changed, nil
	}
	st.mu.Lock()
	delete(st.odd, f.path)
	st.mu.Unlock()
	f.info = info

	sub, err := c.submission(env, f, src, link != "", h)
	if err != nil {
		return c.reject(env, st, f, fmt.Sprintf("cannot build submission: %v", err)), nil
	}
	err = env.Sink.Submit(ctx, sub)
	switch {
	case err == nil:
	case errors.Is(err, collector.ErrInvalid):
		env.Drop("invalid", 1)
		return c.reject(env, st, f, err.Error()), nil
	case ctx.Err() != nil:
		return skipped, nil // shutting down; the file stays
	default:
		env.Count("submit_failed", 1)
		return skipped, &errStore{fmt.Errorf("submitting %s: %w", f.path, err)}
	}
	env.Count("submitted", 1)
	env.Count("bytes_submitted", h.size)
	env.Log.Debug("filedrop: submitted", "path", f.path, "uuid", sub.UUID, "size", h.size, "sha256", h.sha256)
	if err := c.dispose(f); err != nil {
		c.deferDisposal(env, st, f, "", err)
	}
	return submitted, nil
}

// claim hard-links f into the private in-flight directory, so what is
// hashed is exactly what the runtime stores (a writer that renames a new
// file over the same name cannot swap it), and the runtime can link
// rather than copy it and remove only our link (DeleteSource), never the
// name in the drop directory. Where hard links are impossible (another
// filesystem, no link support) it returns "" and the file is read in
// place and copied by the runtime.
func (c *Collector) claim(env *collector.Env, st *runState, f candidate) (string, error) {
	dir := filepath.Join(c.cfg.Dir, InflightDir)
	link := filepath.Join(dir, uuid.NewString())
	err := os.Link(f.path, link)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Lstat(f.path); errors.Is(serr, fs.ErrNotExist) {
			return "", err // the file vanished
		}
		// Someone removed the in-flight directory: make it again.
		if err = os.MkdirAll(dir, 0o750); err == nil {
			err = os.Link(f.path, link)
		}
	}
	if err == nil {
		return link, nil
	}
	st.mu.Lock()
	first := !st.noLink
	st.noLink = true
	st.mu.Unlock()
	if first {
		env.Log.Info("filedrop: cannot hard-link into the in-flight directory; such files are read "+
			"in place and copied by the runtime (logged once)", "path", f.path, "error", err)
	}
	return "", nil
}

// removeLink removes an in-flight link once it is no longer needed (the
// runtime already did after a successful Submit).
func removeLink(env *collector.Env, link string) {
	if err := os.Remove(link); err != nil && !errors.Is(err, fs.ErrNotExist) {
		env.Log.Warn("filedrop: removing in-flight link", "path", link, "error", err)
	}
}

// hash reads src (f or its in-flight link) once, computing the digests,
// and checks that the file is the one listed and did not change while it
// was read. It returns the file's stat after reading.
func (c *Collector) hash(f candidate, src string) (hashed, fs.FileInfo, error) {
	var h hashed
	fh, err := os.Open(src)
	if err != nil {
		return h, nil, err
	}
	defer fh.Close()
	before, err := fh.Stat()
	if err != nil {
		return h, nil, fmt.Errorf("stat %s: %w", src, err)
	}
	if !sameFile(before, f.info) {
		h.changedIO = true // replaced or written since it was listed
		return h, before, nil
	}
	m5, s1, s256 := md5.New(), sha1.New(), sha256.New() //nolint:gosec
	var r io.Reader = fh
	if c.cfg.MaxSize > 0 {
		r = io.LimitReader(fh, c.cfg.MaxSize+1)
	}
	n, err := io.Copy(io.MultiWriter(m5, s1, s256), r)
	if err != nil {
		return h, nil, fmt.Errorf("reading %s: %w", src, err)
	}
	if c.cfg.MaxSize > 0 && n > c.cfg.MaxSize {
		h.tooLarge = true
		return h, before, nil
	}
	after, err := fh.Stat()
	if err != nil {
		return h, nil, fmt.Errorf("stat %s: %w", src, err)
	}
	if !sameFile(before, after) || n != after.Size() {
		h.changedIO = true
		return h, after, nil
	}
	h.size = n
	h.md5 = hex.EncodeToString(m5.Sum(nil))
	h.sha1 = hex.EncodeToString(s1.Sum(nil))
	h.sha256 = hex.EncodeToString(s256.Sum(nil))
	return h, after, nil
}

// submission builds the submission for a hashed file.
// src is the path the runtime reads (the in-flight link if linked).
func (c *Collector) submission(env *collector.Env, f candidate, src string, linked bool, h hashed) (*collector.Submission, error) {
	name := AttachName(filepath.Base(f.path))
	mtime := f.info.ModTime()
	desc, err := RenderDescription(c.cfg.Description, Description{
		Name: name, Path: f.path, Size: h.size, SHA256: h.sha256, ModTime: mtime,
	})
	if err != nil {
		return nil, err
	}
	sub := collector.NewSubmission(desc)
	c.cfg.Fields.Apply(sub, env.Global)
	sub.EventTime = mtime
	if c.cfg.Dedup {
		sub.DedupKey = h.sha256
	}
	if err := sub.SetDetails(map[string]any{
		"path": f.path, "size": h.size, "mtime": mtime.UTC().Format(time.RFC3339Nano), "sha256": h.sha256,
	}); err != nil {
		return nil, err
	}
	var obs collector.ObservableSet
	obs.AddValue(collector.ObsFile, name)
	obs.AddValue(collector.ObsMD5, h.md5)
	obs.AddValue(collector.ObsSHA1, h.sha1)
	obs.AddValue(collector.ObsSHA256, h.sha256)
	sub.Observables = obs.List()
	// In delete mode the runtime may take our private link (hard-link it
	// into its incoming directory, then remove it): no copy. In move mode
	// the file lives on in done_directory, so the runtime must copy it —
	// a shared inode would let later changes there reach the queue. The
	// drop directory's own name is only ever touched by dispose.
	sub.Files = []collector.File{{Path: src, Name: name, DeleteSource: linked && c.cfg.After == AfterDelete}}
	return sub, nil
}
