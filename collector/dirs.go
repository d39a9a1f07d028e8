package collector

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// CheckDirs refuses directory layouts in which the runtime and a collector
// would touch each other's files: incoming_dir, the persistence directory
// and every collector input directory (inputs: collector name → its input
// directories) must each be distinct from, and neither inside nor around,
// incoming_dir and the persistence directory. A collector reading
// incoming_dir would ingest its own staging in a loop (and delete what it
// picked up); one reading the persistence directory would ingest the
// database. Inputs of different collectors are not compared with each
// other. Paths are compared cleaned and absolute and, where they exist,
// with symlinks resolved. Empty paths are skipped.
func CheckDirs(incoming, persistence string, inputs map[string][]string) []error {
	var places []dirPlace
	add := func(what, p string, ours bool) {
		if p != "" {
			places = append(places, dirPlace{what: what, path: p, real: resolvePath(p), ours: ours})
		}
	}
	add("[collection] incoming_dir", incoming, true)
	add("[collection] persistence_dir", persistence, true)
	names := make([]string, 0, len(inputs))
	for name := range inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, d := range inputs[name] {
			add(fmt.Sprintf("collector %q input directory", name), d, false)
		}
	}
	var errs []error
	for i, a := range places {
		for _, b := range places[i+1:] {
			if !a.ours && !b.ours {
				continue
			}
			if rel := overlap(a.real, b.real); rel != "" {
				errs = append(errs, fmt.Errorf("%s %s %s %s %s%s: they must not overlap, "+
					"or staged files would be collected again and files not yet collected removed",
					a.what, a.path, rel, b.what, b.path, resolvedNote(a, b)))
			}
		}
	}
	return errs
}

// dirPlace is one directory CheckDirs compares.
type dirPlace struct {
	what, path, real string
	ours             bool // incoming or persistence: compared with everything
}

func resolvedNote(a, b dirPlace) string {
	if a.real == filepath.Clean(a.path) && b.real == filepath.Clean(b.path) {
		return ""
	}
	return fmt.Sprintf(" (resolved: %s and %s)", a.real, b.real)
}

// overlap says how a relates to b: "is", "is inside", "contains", or ""
// for neither.
func overlap(a, b string) string {
	switch {
	case a == b:
		return "is the same directory as"
	case inside(a, b):
		return "is inside"
	case inside(b, a):
		return "contains"
	}
	return ""
}

// inside reports whether path a is strictly below directory b.
func inside(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) &&
		!filepath.IsAbs(rel)
}

// resolvePath makes p absolute and clean and resolves symlinks in the part
// of it that exists; what does not exist yet is appended as written.
func resolvePath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	var rest []string
	for cur := abs; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			slices.Reverse(rest)
			return filepath.Join(append([]string{real}, rest...)...)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = append(rest, filepath.Base(cur))
		cur = parent
	}
}

// ForeignEntries lists the entries of incoming_dir the project did not
// create (anything but <uuid>/, .ace-staging-<uuid>/ and .ace-set-aside/
// directories), sorted. The runtime leaves them alone; validate warns. A
// missing incoming_dir has none.
func ForeignEntries(incoming string) ([]string, error) {
	ents, err := os.ReadDir(incoming)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading incoming_dir %s: %w", incoming, err)
	}
	var out []string
	for _, e := range ents {
		if classify(e) == entryForeign {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
