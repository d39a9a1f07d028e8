package collector

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// stageSubmission makes sub's files and its manifest durable in
// incoming/<uuid>/ before anything is committed: the files and the
// manifest go into incoming/.ace-staging-<uuid>/ (which start-up may always
// remove: nothing is committed while it has that name), every directory is
// fsync'd, and only then is it renamed to <uuid> and incoming fsync'd. It
// rewrites sub.Files to the final paths and sets w.Payload.
func stageSubmission(incoming string, sub *Submission, w *QueuedWork, storeID string, now time.Time) (dir string, sources []string, err error) {
	dir = filepath.Join(incoming, sub.UUID)
	tmp := filepath.Join(incoming, StagingPrefix+sub.UUID)
	if err := os.MkdirAll(incoming, 0o750); err != nil {
		return "", nil, fmt.Errorf("creating %s: %w", incoming, err)
	}
	if err := os.Mkdir(tmp, 0o750); err != nil {
		return "", nil, fmt.Errorf("creating %s: %w", tmp, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	sources, dirs, err := stageFiles(sub, tmp, dir)
	if err != nil {
		return "", nil, err
	}
	if w.Payload, err = json.Marshal(sub); err != nil {
		return "", nil, fmt.Errorf("%w: submission %s: encoding: %w", ErrInvalid, sub.UUID, err)
	}
	if err = writeManifest(tmp, newManifest(w, storeID, now)); err != nil {
		return "", nil, err
	}
	for _, d := range dirs { // deepest first, then tmp itself
		if err = syncDir(d); err != nil {
			return "", nil, err
		}
	}
	if err = os.Rename(tmp, dir); err != nil {
		return "", nil, fmt.Errorf("moving staged files to %s: %w", dir, err)
	}
	if err = syncDir(incoming); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, sources, nil
}

// stageFiles puts sub's files into tmp under safe, unique names (never
// the manifest's), each file fsync'd, and rewrites sub.Files to point
// where they will be once tmp is renamed to final. It hard-links when it
// can (cheap, and the source is deleted after commit anyway for a "move")
// and copies otherwise. dirs lists the directories to fsync, deepest first
// and tmp last.
func stageFiles(sub *Submission, tmp, final string) (sources, dirs []string, err error) {
	used := map[string]bool{ManifestName: true}
	made := map[string]bool{}
	for i, f := range sub.Files {
		name, err := SafeName(f.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: file %d: %w", ErrInvalid, i, err)
		}
		name = uniqueName(notManifest(name), used)
		dst := filepath.Join(tmp, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, nil, fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		for d := filepath.Dir(dst); d != tmp && !made[d]; d = filepath.Dir(d) {
			made[d] = true
			dirs = append(dirs, d)
		}
		if err := linkOrCopy(f.Path, dst, !f.DeleteSource); err != nil {
			return nil, nil, err
		}
		if f.DeleteSource {
			sources = append(sources, f.Path)
		}
		sub.Files[i] = File{Path: filepath.Join(final, filepath.FromSlash(name)), Name: name}
	}
	// Longer paths first: a subdirectory's entry is synced in its parent.
	slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
	return sources, append(dirs, tmp), nil
}

// notManifest keeps an attachment off the manifest's name, also as the
// first segment of a nested name ("<manifest>/x" would make it a
// directory).
func notManifest(name string) string {
	if name == ManifestName || strings.HasPrefix(name, ManifestName+"/") {
		return "_" + name
	}
	return name
}

func uniqueName(name string, used map[string]bool) string {
	if !used[name] {
		used[name] = true
		return name
	}
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; ; i++ {
		n := base + "_" + strconv.Itoa(i) + ext
		if !used[n] {
			used[n] = true
			return n
		}
	}
}

// linkOrCopy makes dst hold src's content durably. A hard link is used for
// moves only: for a copy the source stays and may change later.
func linkOrCopy(src, dst string, mustCopy bool) error {
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("%w: attachment %s: %w", ErrInvalid, src, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%w: attachment %s is not a regular file", ErrInvalid, src)
	}
	if !mustCopy {
		if err := os.Link(src, dst); err == nil {
			// The writer of src may not have synced it.
			f, err := os.Open(dst)
			if err != nil {
				return fmt.Errorf("syncing %s: %w", dst, err)
			}
			defer f.Close()
			if err := f.Sync(); err != nil {
				return fmt.Errorf("syncing %s: %w", dst, err)
			}
			return nil
		}
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("%w: attachment %s: %w", ErrInvalid, src, err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o640)
	if err != nil {
		return fmt.Errorf("staging %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("syncing %s: %w", dst, err)
	}
	return out.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
