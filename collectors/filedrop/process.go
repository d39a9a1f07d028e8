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

// process takes one file: hash, submit, dispose. It returns an *errStore
// when the sink could not store it (the file is left in place).
func (c *Collector) process(ctx context.Context, env *collector.Env, st *runState, f candidate) (outcome, error) {
	if p, ok := st.pending[f.path]; ok {
		if sameFile(p.info, f.info) {
			return c.retryPending(env, st, f, p), nil
		}
		delete(st.pending, f.path) // a new file under the old name
	}
	if c.cfg.MaxSize > 0 && f.info.Size() > c.cfg.MaxSize {
		return c.tooLarge(env, st, f), nil
	}
	h, info, err := c.hash(f)
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
	delete(st.odd, f.path)
	f.info = info

	sub, err := c.submission(env, f, h)
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

// hash reads the file once, computing its digests, and checks it did not
// change while it was read. It returns the file's stat after reading.
func (c *Collector) hash(f candidate) (hashed, fs.FileInfo, error) {
	var h hashed
	fh, err := os.Open(f.path)
	if err != nil {
		return h, nil, err
	}
	defer fh.Close()
	before, err := fh.Stat()
	if err != nil {
		return h, nil, fmt.Errorf("stat %s: %w", f.path, err)
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
		return h, nil, fmt.Errorf("reading %s: %w", f.path, err)
	}
	if c.cfg.MaxSize > 0 && n > c.cfg.MaxSize {
		h.tooLarge = true
		return h, before, nil
	}
	after, err := fh.Stat()
	if err != nil {
		return h, nil, fmt.Errorf("stat %s: %w", f.path, err)
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
func (c *Collector) submission(env *collector.Env, f candidate, h hashed) (*collector.Submission, error) {
	name := AttachName(filepath.Base(f.path))
	mtime := f.info.ModTime()
	desc, err := RenderDescription(c.cfg.Description, Description{
		Name: name, Path: f.path, Size: h.size, SHA256: h.sha256, ModTime: mtime,
	})
	if err != nil {
		return nil, err
	}
	sub := collector.NewSubmission(desc)
	sub.AnalysisMode = c.cfg.AnalysisMode
	sub.Type = c.cfg.Type
	sub.Tool = c.cfg.Tool
	sub.ToolInstance = c.cfg.ToolInstance
	if sub.ToolInstance == "" {
		sub.ToolInstance = env.Global.Hostname
	}
	sub.Queue = c.cfg.Queue
	sub.EventTime = mtime
	sub.Tags = append([]string(nil), c.cfg.Tags...)
	sub.GroupAssignments = append([]string(nil), c.cfg.Groups...)
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
	sub.Files = []collector.File{{
		Path: f.path, Name: name,
		// Delete mode lets the runtime move the file into its incoming
		// directory once the record is durable, instead of copying it.
		DeleteSource: c.cfg.After == AfterDelete,
	}}
	return sub, nil
}
