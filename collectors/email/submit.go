package email

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/mailparse"
)

// details is the submission's details JSON: the message summary plus
// where it came from.
type details struct {
	mailparse.Details
	SourceFile      string   `json:"source_file"`
	EventTimeSource string   `json:"event_time_source"`
	MatchedRules    []string `json:"matched_rules,omitempty"`
}

// process handles one spool file. It reports whether the file left the
// spool, and returns *errStore when the store is unavailable (the file is
// kept for a retry). The file is streamed, never loaded whole.
func (c *Collector) process(ctx context.Context, env *collector.Env, f entry) (bool, error) {
	file, err := os.Open(f.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.logUnreadable(env, f.path, err)
		}
		return false, nil
	}
	defer file.Close()
	info, err := file.Stat()
	var prefix []byte
	if err == nil {
		prefix, err = io.ReadAll(io.NewSectionReader(file, 0, mailparse.SniffSize))
	}
	if err != nil {
		c.logUnreadable(env, f.path, err)
		return false, nil
	}
	delete(c.unreadable, f.path)
	env.Count("received", 1)
	env.Count("received_bytes", info.Size())
	if ok, reason := mailparse.Sniff(prefix); !ok {
		return c.nonEmail(ctx, env, f, file, info, reason)
	}
	res, err := c.parse(file, info.Size())
	if err != nil {
		c.logUnreadable(env, f.path, err)
		return false, nil
	}
	if res.Details.ParseError != "" {
		env.Count("parse_error", 1)
		env.Log.Warn("message not fully parsed; submitting it with what was extracted",
			"file", f.path, "parse_error", res.Details.ParseError)
	}

	dec := c.rulesFor(res, file, info.Size())
	if dec.Drop {
		env.Drop("rule:"+dec.DropRule, 1)
		env.Log.Info("message dropped by rule", "rule", dec.DropRule, "file", f.path,
			"subject", truncate(res.Subject, 200), "message_id", res.Details.MessageID)
		if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			env.Log.Error("dropped message could not be removed", "file", f.path, "error", err)
			return false, nil
		}
		return true, nil
	}

	sub, err := c.submission(env.Global, f, info, res, dec.Groups, dec.Matched)
	if err != nil {
		return false, err
	}
	return c.deliver(ctx, env, f, sub)
}

// deliver submits sub, whose attachment is the spool file f, and removes
// f once Submit returned.
func (c *Collector) deliver(ctx context.Context, env *collector.Env, f entry, sub *collector.Submission) (bool, error) {
	if err := env.Sink.Submit(ctx, sub); err != nil {
		if errors.Is(err, collector.ErrInvalid) {
			return c.reject(env, f.path, err), nil
		}
		if ctx.Err() != nil {
			return false, nil
		}
		return false, &errStore{err: fmt.Errorf("submitting %s: %w", f.path, err)}
	}
	// Durable now. The runtime removes the source (DeleteSource); remove
	// it here too in case the sink copied it.
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		env.Log.Error("submitted file could not be removed and may be submitted again", "file", f.path, "error", err)
	}
	env.Count("submitted", 1)
	env.Log.Debug("submitted", "uuid", sub.UUID, "file", f.path, "description", sub.Description,
		"observables", len(sub.Observables), "groups", sub.GroupAssignments)
	return true, nil
}

func (c *Collector) submission(g collector.Global, f entry, info fs.FileInfo, res *mailparse.Result, groups, matched []string) (*collector.Submission, error) {
	label := res.Subject
	if label == "" {
		label = f.name
	}
	sub := collector.NewSubmission("ACE Mailbox Scanner Detection - " + truncate(label, 200))
	d := details{Details: res.Details, SourceFile: f.path, MatchedRules: matched}
	if t := res.Date; !t.IsZero() && t.Before(c.now().Add(24*time.Hour)) {
		sub.EventTime, d.EventTimeSource = t, "date_header"
	} else {
		sub.EventTime, d.EventTimeSource = info.ModTime(), "file_time"
	}
	sub.Observables = append(sub.Observables, collector.Observable{
		Type:       collector.ObsFile,
		Value:      FileName,
		Directives: []string{collector.DirectiveNoScan, collector.DirectiveOriginalEmail, collector.DirectiveArchive},
	})
	sub.Observables = append(sub.Observables, res.Observables.List()...)
	sub.Files = []collector.File{{Path: f.path, Name: FileName, DeleteSource: true}}
	sub.GroupAssignments = groups
	c.cfg.Fields.Apply(sub, g)
	if err := sub.SetDetails(d); err != nil {
		return nil, err
	}
	return sub, nil
}

// reject moves a message the store refused as invalid to error_dir, so it
// is neither retried forever nor lost.
func (c *Collector) reject(env *collector.Env, path string, cause error) bool {
	env.Drop("invalid", 1)
	dst, err := c.moveAside(path)
	if err != nil {
		env.Log.Error("invalid submission and the message could not be moved aside; it stays in the spool",
			"file", path, "error", cause, "move_error", err)
		return false
	}
	env.Log.Error("submission rejected as invalid; message moved to error_dir", "file", path, "moved_to", dst, "error", cause)
	return true
}

// moveAside moves a spool file to error_dir under a unique name.
func (c *Collector) moveAside(path string) (string, error) {
	dst := filepath.Join(c.cfg.ErrorDir, fmt.Sprintf("%s.%d", filepath.Base(path), c.now().UnixNano()))
	err := os.MkdirAll(c.cfg.ErrorDir, 0o750)
	if err == nil {
		err = os.Rename(path, dst)
	}
	return dst, err
}

func (c *Collector) logUnreadable(env *collector.Env, path string, err error) {
	if c.unreadable[path] {
		return
	}
	c.unreadable[path] = true
	env.Count("read_error", 1)
	env.Log.Error("cannot read spool file; it is left in place and retried", "file", path, "error", err)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
