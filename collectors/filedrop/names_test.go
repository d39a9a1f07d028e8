package filedrop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

func TestAttachName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"a b.txt", "a b.txt"},
		{"line\nbreak", "line_break"},
		{"tab\there\x7f", "tab_here_"},
		{`back\slash`, "back_slash"},
		{"a/b", "a_b"},
		{"bad\xffutf8", "bad_utf8"},
		{"C:", "C_"},
		{"..", "file"},
		{".", "file"},
		{"", "file"},
		{"ünïcödé.txt", "ünïcödé.txt"},
		{strings.Repeat("é", 200), strings.Repeat("é", 127)}, // 255 bytes cut at a rune boundary
	}
	for _, tt := range tests {
		if got := AttachName(tt.in); got != tt.want {
			t.Errorf("AttachName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestIgnoredName(t *testing.T) {
	for name, want := range map[string]bool{
		"a": false, "a.new": true, ".a": true, ".rejected": true, "a.new.txt": false, "new": false, ".new": true,
	} {
		if got := ignoredName(name); got != want {
			t.Errorf("ignoredName(%q) = %v", name, got)
		}
	}
}

func TestUniquePath(t *testing.T) {
	dir := t.TempDir()
	touch := func(name string) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	touch("a.txt")
	touch("a-1.txt")
	touch("noext")
	touch(".hidden")
	tests := []struct{ in, want string }{
		{"free.txt", "free.txt"},
		{"a.txt", "a-2.txt"},
		{"noext", "noext-1"},
		{".hidden", ".hidden-1"},
	}
	for _, tt := range tests {
		got, err := uniquePath(filepath.Join(dir, tt.in))
		if err != nil || got != filepath.Join(dir, tt.want) {
			t.Errorf("uniquePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// FuzzAttachName checks that any file name a writer can create (and
// descriptions rendered from it) yields a name the runtime accepts
// unchanged and a non-empty description.
func FuzzAttachName(f *testing.F) {
	for _, s := range []string{"a.txt", "..", "C:", "x\x00y", "a/../b", `\\srv\share`, "\xff\xfe", strings.Repeat("é", 300)} {
		f.Add(s)
	}
	tmpl, err := ParseDescription(DefaultDescription + " {{.Path}}")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, base string) {
		name := AttachName(base)
		clean, err := collector.SafeName(name)
		if err != nil || clean != name {
			t.Fatalf("AttachName(%q) = %q: SafeName = %q, %v", base, name, clean, err)
		}
		if strings.ContainsAny(name, `/\`) || len(name) > maxNameBytes {
			t.Fatalf("AttachName(%q) = %q is not one short component", base, name)
		}
		sub := collector.NewSubmission("x")
		sub.AddFile("/p", name)
		sub.AddObservable(collector.ObsFile, name)
		if err := sub.Validate(); err != nil {
			t.Fatalf("submission with %q invalid: %v", name, err)
		}
		d, err := RenderDescription(tmpl, Description{Name: name, Path: "/in/" + base})
		if err != nil || strings.TrimSpace(d) == "" || len(d) > maxDescription {
			t.Fatalf("description for %q = %q, %v", base, d, err)
		}
	})
}
