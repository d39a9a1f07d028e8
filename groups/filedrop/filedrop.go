// Package filedrop is the group type `filedrop`: each submission is
// written to a directory, as a JSON document with its files beside it
// (format json) or as an RFC 5322 envelope (format eml). Everything is
// written under a temporary dot-name, fsync'd and renamed, so a consumer
// watching the directory never sees a partial submission. See
// docs/groups/filedrop.md.
package filedrop

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	"github.com/ace-collector/ace-collector/groups/internal/render"
)

//go:embed sample.ini
var sample []byte

func init() {
	groups.RegisterType(groups.Type{
		Name:    "filedrop",
		Summary: "a directory: one JSON document with its files, or one EML envelope, per submission",
		Sample:  sample,
		Parse:   parse,
		Open:    open,
	})
}

// Settings are a filedrop group's own keys.
type Settings struct {
	Directory string
	Format    string // json or eml
	From      string // eml: the From header
	To        []string
}

// tmpPrefix starts the names of entries being written: consumers skip
// dot-names.
const tmpPrefix = ".tmp-"

func parse(s *collector.Section, _ groups.GroupConfig, env groups.ParseEnv) any {
	st := &Settings{
		Directory: env.Global.Path(s.Required("directory")),
		Format:    s.OneOf("format", "json", "json", "eml"),
		From:      s.String("from", "ace-collector <ace-collector@"+hostOr(env.Global.Hostname)+">"),
		To:        s.List("to"),
	}
	if st.Directory != "" {
		switch fi, err := os.Stat(st.Directory); {
		case errors.Is(err, os.ErrNotExist):
			s.Warnf("directory", "%s does not exist; it is created at start", st.Directory)
		case err != nil:
			s.Errorf("directory", "%v", err)
		case !fi.IsDir():
			s.Errorf("directory", "%s is not a directory", st.Directory)
		}
	}
	return st
}

func hostOr(h string) string {
	if h == "" {
		return "localhost"
	}
	return h
}

func open(g groups.GroupConfig, log *slog.Logger) (groups.Delivery, error) {
	st, ok := g.Settings.(*Settings)
	if !ok {
		return nil, fmt.Errorf("filedrop: group %s has no filedrop settings", g.Name)
	}
	dir, err := filepath.Abs(st.Directory)
	if err != nil {
		return nil, fmt.Errorf("filedrop directory %s: %w", st.Directory, err)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("filedrop directory: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Delivery{st: *st, dir: dir, log: log}
	d.st.Directory = dir
	d.removeStale(time.Hour)
	return d, nil
}

// Delivery writes submissions into one directory.
type Delivery struct {
	st  Settings
	dir string
	log *slog.Logger
}

// Targets is the directory.
func (d *Delivery) Targets() []groups.Node {
	return []groups.Node{{Name: "file://" + d.dir, Location: "file://" + d.dir, AnyMode: true}}
}

// Close has nothing to release.
func (d *Delivery) Close() error { return nil }

// Deliver writes sub. A missing stored file is permanent; anything the
// file system refuses (full, read-only, permissions, the directory gone)
// is transient: an operator fixes it and the backlog follows.
func (d *Delivery) Deliver(_ context.Context, _ groups.Node, sub *collector.Submission) error {
	var err error
	if d.st.Format == "eml" {
		err = d.writeEML(sub)
	} else {
		err = d.writeJSON(sub)
	}
	var fe *render.FileError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &fe):
		return groups.Permanent("local", err)
	default:
		return groups.Transient(kindOf(err), err)
	}
}

func kindOf(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return "disk_full"
	case errors.Is(err, os.ErrPermission), errors.Is(err, syscall.EROFS):
		return "permission"
	}
	return "filesystem"
}

// writeJSON writes DIR/UUID/submission.json with the files under
// DIR/UUID/files/. The directory appears whole, by one rename; if it is
// already there, an earlier delivery completed (at-least-once) and it is
// left as it is.
func (d *Delivery) writeJSON(sub *collector.Submission) (err error) {
	final := filepath.Join(d.dir, sub.UUID)
	if _, err := os.Stat(final); err == nil {
		return nil
	}
	tmp, err := os.MkdirTemp(d.dir, tmpPrefix+sub.UUID+"-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	doc, err := render.NewDocument(sub, false)
	if err != nil {
		return err
	}
	dirs := map[string]bool{tmp: true}
	for i, f := range sub.Files {
		name, err := collector.SafeName(f.Name)
		if err != nil {
			return &render.FileError{Name: f.Name, Err: err}
		}
		rel := "files/" + name
		dst := filepath.Join(tmp, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return err
		}
		for p := filepath.Dir(dst); p != tmp; p = filepath.Dir(p) {
			dirs[p] = true
		}
		n, err := copyFile(f, dst)
		if err != nil {
			return err
		}
		doc.Files[i].Path, doc.Files[i].Size = rel, n
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return &render.FileError{Name: "submission.json", Err: err}
	}
	if err := writeSynced(filepath.Join(tmp, "submission.json"), func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	}); err != nil {
		return err
	}
	for p := range dirs {
		if err := syncDir(p); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			os.RemoveAll(tmp) // another instance delivered it meanwhile
			return nil
		}
		return err
	}
	return syncDir(d.dir)
}

// writeEML writes DIR/UUID.eml (replacing an earlier delivery's).
func (d *Delivery) writeEML(sub *collector.Submission) error {
	e, err := render.NewEML(sub, render.EMLOptions{From: d.st.From, To: d.st.To})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(d.dir, tmpPrefix+sub.UUID+"-*.eml")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if err := fillSynced(f, func(w io.Writer) error { _, err := e.WriteTo(w); return err }); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, sub.UUID+".eml")); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(d.dir)
}

// copyFile copies a stored file to dst, fsync'd; it returns the size.
func copyFile(f collector.File, dst string) (int64, error) {
	src, err := os.Open(f.Path)
	if err != nil {
		return 0, &render.FileError{Name: f.Name, Err: err}
	}
	defer src.Close()
	var n int64
	err = writeSynced(dst, func(w io.Writer) error {
		var err error
		n, err = io.Copy(w, readErrors{src, f.Name})
		return err
	})
	return n, err
}

// readErrors marks read failures of a stored file as FileErrors.
type readErrors struct {
	r    io.Reader
	name string
}

func (r readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = &render.FileError{Name: r.name, Err: err}
	}
	return n, err
}

// writeSynced creates path, has write fill it, and fsyncs and closes it.
func writeSynced(path string, write func(io.Writer) error) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	return fillSynced(f, write)
}

func fillSynced(f *os.File, write func(io.Writer) error) error {
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(p string) error {
	d, err := os.Open(p)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("syncing directory %s: %w", p, err)
	}
	return nil
}

// removeStale removes what a crash left half-written: temporary entries
// older than age (younger ones may be another instance's, in progress).
func (d *Delivery) removeStale(age time.Duration) {
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > age {
			p := filepath.Join(d.dir, e.Name())
			if err := os.RemoveAll(p); err == nil {
				d.log.Info("removed a half-written entry left by an earlier run", "path", p)
			}
		}
	}
}

var (
	_ groups.Delivery = (*Delivery)(nil)
	_ groups.Targeted = (*Delivery)(nil)
)
