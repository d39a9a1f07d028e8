package collector_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

func TestCheckDirs(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"in", "in2", "persist", "drop", "drop/deep"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "in"), filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	p := func(s string) string { return filepath.Join(root, s) }
	cases := []struct {
		name        string
		incoming    string
		persistence string
		inputs      map[string][]string
		want        []string // one substring per expected error
	}{
		{"siblings", p("in"), p("persist"), map[string][]string{"drop": {p("drop")}}, nil},
		{"a name that merely starts like another", p("in"), p("persist"), map[string][]string{"d": {p("in2")}}, nil},
		{"inputs of two collectors are not compared", p("in"), "", map[string][]string{"a": {p("drop")}, "b": {p("drop")}}, nil},
		{"empty paths skipped", "", "", map[string][]string{"a": {""}}, nil},
		{"incoming is an input", p("in"), p("persist"), map[string][]string{"drop": {p("drop"), p("in")}},
			[]string{`incoming_dir ` + p("in") + ` is the same directory as collector "drop" input directory`}},
		{"incoming inside a (recursive) input", p("drop/deep"), "", map[string][]string{"drop": {p("drop")}},
			[]string{`incoming_dir ` + p("drop/deep") + ` is inside collector "drop"`}},
		{"input inside incoming", p("in"), "", map[string][]string{"drop": {p("in/spool")}},
			[]string{`incoming_dir ` + p("in") + ` contains collector "drop"`}},
		{"through a symlink", p("in"), "", map[string][]string{"drop": {p("link")}},
			[]string{"is the same directory as collector \"drop\" input directory " + p("link") + " (resolved: "}},
		{"through a symlink, below it, not yet existing", p("link/new/sub"), "", map[string][]string{"drop": {p("in")}},
			[]string{"is inside"}},
		{"relative and unclean", "in/./", "", map[string][]string{"drop": {p("in") + "/x/.."}},
			[]string{"is the same directory as"}},
		{"neither exists yet", p("new/in"), "", map[string][]string{"drop": {p("new")}},
			[]string{"is inside"}},
		{"persistence is incoming", p("in"), p("in"), nil,
			[]string{"incoming_dir " + p("in") + " is the same directory as [collection] persistence_dir"}},
		{"persistence inside an input", p("in"), p("drop/deep"), map[string][]string{"drop": {p("drop")}},
			[]string{"persistence_dir " + p("drop/deep") + ` is inside collector "drop"`}},
		{"every overlap reported", p("in"), p("in"), map[string][]string{"a": {p("in")}, "b": {root}},
			[]string{"persistence_dir", `collector "a"`, `collector "a"`, `collector "b"`, `collector "b"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := collector.CheckDirs(c.incoming, c.persistence, c.inputs)
			if len(errs) != len(c.want) {
				t.Fatalf("%d errors %v, want %d", len(errs), errs, len(c.want))
			}
			all := ""
			for _, e := range errs {
				all += e.Error() + "\n"
			}
			for _, w := range c.want {
				if !strings.Contains(all, w) {
					t.Errorf("no error says %q:\n%s", w, all)
				}
			}
		})
	}
}

func TestForeignEntriesOfMissingOrEmptyDir(t *testing.T) {
	dir := t.TempDir()
	if names, err := collector.ForeignEntries(filepath.Join(dir, "missing")); err != nil || names != nil {
		t.Fatalf("missing dir: %v, %v", names, err)
	}
	for _, d := range []string{"33333333-3333-4333-8333-333333333333", collector.StagingPrefix + "33333333-3333-4333-8333-333333333333", collector.SetAsideName} {
		os.Mkdir(filepath.Join(dir, d), 0o750)
	}
	if names, err := collector.ForeignEntries(dir); err != nil || names != nil {
		t.Fatalf("only the project's entries: %v, %v", names, err)
	}
	os.Mkdir(filepath.Join(dir, "projectA"), 0o750)
	if names, err := collector.ForeignEntries(dir); err != nil || len(names) != 1 || names[0] != "projectA" {
		t.Fatalf("%v, %v", names, err)
	}
}
