package filedrop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/ace-collector/ace-collector/collector"
)

// maxNameBytes bounds an attachment name (a Linux file name is at most 255
// bytes; other systems' names can be longer).
const maxNameBytes = 255

// AttachName turns a file's base name into the name it is attached under:
// a single path component that collector.SafeName accepts unchanged.
// Control characters, slashes and backslashes become '_', invalid UTF-8
// becomes '_', and over-long names are cut at a rune boundary. Names with
// nothing usable left become "file".
func AttachName(base string) string {
	s := strings.ToValidUTF8(base, "_")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, s)
	if len(s) > maxNameBytes {
		cut := maxNameBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	// "C:" would be read as a drive prefix; "", "." and ".." are no name.
	if len(s) == 2 && s[1] == ':' {
		s = s[:1] + "_"
	}
	if clean, err := collector.SafeName(s); err != nil || clean != s {
		return "file"
	}
	return s
}

// ignoredName reports whether a directory entry name is skipped: dot-files
// (and dot-directories) and names still being written (*.new).
func ignoredName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".new")
}

// uniquePath returns dst, or dst with "-N" inserted before its extension,
// whichever does not exist yet.
func uniquePath(dst string) (string, error) {
	ext := filepath.Ext(dst)
	stem := strings.TrimSuffix(dst, ext)
	if ext == dst || strings.HasSuffix(stem, string(filepath.Separator)) {
		stem, ext = dst, "" // ".hidden": no extension to keep
	}
	cand := dst
	for i := 1; i <= 10000; i++ {
		_, err := os.Lstat(cand)
		if errors.Is(err, fs.ErrNotExist) {
			return cand, nil
		}
		if err != nil {
			return "", fmt.Errorf("checking %s: %w", cand, err)
		}
		cand = fmt.Sprintf("%s-%d%s", stem, i, ext)
	}
	return "", fmt.Errorf("no free name for %s after 10000 tries", dst)
}
