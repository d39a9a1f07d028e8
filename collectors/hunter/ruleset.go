package hunter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ace-collector/ace-collector/collectors/hunter/rules"
)

// stamp identifies a version of a file (missing files have a stamp too,
// so one that appears is a change).
type stamp struct {
	exists bool
	mod    time.Time
	size   int64
}

func stampOf(path string) stamp {
	fi, err := os.Stat(path)
	if err != nil {
		return stamp{}
	}
	return stamp{exists: true, mod: fi.ModTime(), size: fi.Size()}
}

// ruleFile is one *.ini file under the rule directories and what loading
// it gave: a rule, an error, or a skip (another hunt type).
type ruleFile struct {
	path    string
	rule    *rules.Rule
	err     error
	skipped bool
	// stamps of every file the load read (the rule, its search file,
	// includes), to notice a change to any of them.
	stamps map[string]stamp
}

func (f *ruleFile) changed() bool {
	for p, s := range f.stamps {
		if stampOf(p) != s {
			return true
		}
	}
	return false
}

// ruleSet is the loaded state of the rule directories.
type ruleSet struct {
	files       map[string]*ruleFile // by path
	missingDirs []string
	walkErrs    []error
}

// byName maps enabled and disabled rule names to their rules.
func (s *ruleSet) byName() map[string]*rules.Rule {
	out := map[string]*rules.Rule{}
	for _, f := range s.files {
		if f.rule != nil {
			out[f.rule.Name] = f.rule
		}
	}
	return out
}

// sortedFiles returns the files in path order.
func (s *ruleSet) sortedFiles() []*ruleFile {
	out := make([]*ruleFile, 0, len(s.files))
	for _, f := range s.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out
}

// errs lists every load error (broken rule files, unreadable directories).
func (s *ruleSet) errs() []error {
	var out []error
	for _, f := range s.sortedFiles() {
		if f.err != nil && !f.skipped {
			out = append(out, f.err)
		}
	}
	return append(out, s.walkErrs...)
}

// scanRuleDirs lists the *.ini files under dirs, recursively.
func scanRuleDirs(dirs []string) (paths, missing []string, errs []error) {
	for _, dir := range dirs {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, dir)
			continue
		}
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				errs = append(errs, fmt.Errorf("rule directory %s: %w", dir, err))
				if d != nil && d.IsDir() {
					return fs.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(d.Name(), ".ini") {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("rule directory %s: %w", dir, err))
		}
	}
	sort.Strings(paths)
	return slices.Compact(paths), missing, errs
}

// loadRuleSet scans the rule directories and loads every rule file,
// reusing prev's result for files (and their dependencies) that did not
// change: editing one rule reloads that rule only.
func (h *Hunter) loadRuleSet(prev *ruleSet) *ruleSet {
	paths, missing, walkErrs := scanRuleDirs(h.cfg.RuleDirs)
	set := &ruleSet{files: map[string]*ruleFile{}, missingDirs: missing, walkErrs: walkErrs}
	for _, p := range paths {
		if prev != nil {
			if old, ok := prev.files[p]; ok && !old.changed() {
				set.files[p] = old
				continue
			}
		}
		set.files[p] = h.loadRuleFile(p)
	}
	// Names are unique per collector: on a clash the file later in path
	// order fails (ACE fails the whole manager).
	seen := map[string]string{}
	for _, f := range set.sortedFiles() {
		if f.rule == nil {
			continue
		}
		if first, dup := seen[f.rule.Name]; dup {
			f.err = &rules.Error{File: f.path, Section: "rule", Key: "name",
				Msg: fmt.Sprintf("%q is already the name of %s", f.rule.Name, first)}
			f.rule = nil
			continue
		}
		seen[f.rule.Name] = f.path
	}
	return set
}

// loadRuleFile parses one rule file and has the backend prepare it.
func (h *Hunter) loadRuleFile(path string) *ruleFile {
	f := &ruleFile{path: path, stamps: map[string]stamp{path: stampOf(path)}}
	r, err := rules.Load(path, rules.Options{Type: h.cfg.HuntType, Resolve: h.g.Path, Defaults: h.cfg.Defaults})
	if r != nil {
		for _, dep := range r.Files {
			f.stamps[dep] = stampOf(dep)
		}
	}
	if err == nil {
		err = h.backend.Prepare(r)
		for _, dep := range r.Files {
			if _, ok := f.stamps[dep]; !ok {
				f.stamps[dep] = stampOf(dep)
			}
		}
	}
	switch {
	case errors.Is(err, rules.ErrOtherType):
		f.err, f.skipped = err, true
	case err != nil:
		f.err = err
	default:
		f.rule = r
	}
	return f
}
