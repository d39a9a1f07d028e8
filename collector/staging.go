package collector

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// stageFiles puts sub's files into dir (incoming_dir/<uuid>) under safe,
// unique names, durably (file and directory fsync'd), and rewrites
// sub.Files to point there. It hard-links when it can (cheap, and the
// source is deleted after commit anyway for a "move") and copies otherwise.
func stageFiles(sub *Submission, dir string) (sources []string, err error) {
	if len(sub.Files) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	used := map[string]bool{}
	for i, f := range sub.Files {
		name, err := SafeName(f.Name)
		if err != nil {
			return nil, fmt.Errorf("%w: file %d: %w", ErrInvalid, i, err)
		}
		name = uniqueName(name, used)
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
			return nil, fmt.Errorf("creating %s: %w", filepath.Dir(dst), err)
		}
		if err := linkOrCopy(f.Path, dst, !f.DeleteSource); err != nil {
			return nil, err
		}
		if f.DeleteSource {
			sources = append(sources, f.Path)
		}
		sub.Files[i] = File{Path: dst, Name: name}
	}
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	if err := syncDir(filepath.Dir(dir)); err != nil {
		return nil, err
	}
	return sources, nil
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
