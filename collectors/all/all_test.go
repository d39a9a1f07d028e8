package all_test

import (
	"bytes"
	"flag"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	_ "github.com/ace-collector/ace-collector/collectors/all"
)

// -update rewrites the "## Sample" block of every kind's page from the
// kind's embedded sample: go test ./collectors/all -run Page -update
var update = flag.Bool("update", false, "rewrite the sample block of the docs/collectors pages")

// loadOptions are the daemon loader's INI options.
var loadOptions = ini.LoadOptions{SpaceBeforeInlineComment: true}

// disabledKey matches a key shown but switched off in a sample:
// ";key = value" (prose comments are "; text", with a space).
var disabledKey = regexp.MustCompile(`(?m)^;([a-z][A-Za-z0-9_.-]*) ?=`)

// Every kind package (a folder of collectors/ with a sample.ini, outside
// common/) is imported by all.go and registered under its folder's name.
func TestEveryKindPackageIsRegistered(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join("..", "*", "sample.ini"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range samples {
		dirs = append(dirs, filepath.Base(filepath.Dir(s)))
	}
	slices.Sort(dirs)
	if len(dirs) == 0 || !slices.Equal(dirs, collector.KindNames()) {
		t.Errorf("kind packages %v, registered kinds %v: import each in collectors/all/all.go", dirs, collector.KindNames())
	}
}

// Every kind's sample holds only [collector_*] sections of its own type,
// and each builds through Kind.New, as the daemon's loader builds it,
// without a problem (unknown keys included).
func TestEverySampleBuildsWithoutProblems(t *testing.T) {
	for _, k := range collector.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			f, err := ini.LoadSources(loadOptions, k.Sample)
			if err != nil {
				t.Fatalf("sample is not INI: %v", err)
			}
			if keys := f.Section(ini.DefaultSection).KeyStrings(); len(keys) > 0 {
				t.Errorf("sample has keys %v before its first section", keys)
			}
			built := 0
			for _, s := range f.Sections() {
				if s.Name() == ini.DefaultSection {
					continue
				}
				if !strings.HasPrefix(s.Name(), "collector_") {
					t.Errorf("sample has section [%s]; only [collector_NAME] sections belong in it", s.Name())
					continue
				}
				var p collector.Problems
				sec := collector.NewSection(s, &p)
				if typ := sec.Required("type"); typ != k.Name {
					t.Errorf("[%s] type = %q, want %q", s.Name(), typ, k.Name)
				}
				sec.Bool("enabled", true)
				if _, err := k.New(sec, collector.Global{Node: "n", Hostname: "h", BaseDir: t.TempDir()}); err != nil {
					t.Fatalf("[%s]: %v", s.Name(), err)
				}
				sec.Done()
				for _, e := range p.List() {
					t.Errorf("sample: %v", e)
				}
				built++
			}
			if built == 0 {
				t.Error("sample has no [collector_NAME] section")
			}
		})
	}
}

// Every sample shows every shared submission key, set or switched off.
func TestEverySampleShowsTheSubmissionKeys(t *testing.T) {
	for _, k := range collector.Kinds() {
		keys := sampleKeys(t, k)
		for _, want := range collector.SubmissionKeys {
			if !slices.Contains(keys, want) {
				t.Errorf("%s sample lacks %s", k.Name, want)
			}
		}
	}
}

// A sample appended to a config with a group and a node is still a valid
// INI file whose sections do not clash with them.
func TestSampleAppendsToAMinimalConfig(t *testing.T) {
	minimal := "[collection_group_x]\ncoverage = 100\ntarget_nodes = y\n\n[node_y]\nlocation = http://127.0.0.1:1\n\n"
	for _, k := range collector.Kinds() {
		f, err := ini.LoadSources(loadOptions, append([]byte(minimal), k.Sample...))
		if err != nil {
			t.Errorf("%s: %v", k.Name, err)
			continue
		}
		if got := f.Section("collection_group_x").Key("target_nodes").String(); got != "y" {
			t.Errorf("%s: the sample changed the group section (target_nodes = %q)", k.Name, got)
		}
	}
}

// sampleKeys lists the keys a kind's sample sets or shows switched off.
func sampleKeys(t *testing.T, k collector.Kind) []string {
	t.Helper()
	f, err := ini.LoadSources(loadOptions, k.Sample)
	if err != nil {
		t.Fatalf("%s sample: %v", k.Name, err)
	}
	var keys []string
	for _, s := range f.Sections() {
		for _, key := range s.KeyStrings() {
			if !slices.Contains(keys, key) {
				keys = append(keys, key)
			}
		}
	}
	for _, m := range disabledKey.FindAllSubmatch(k.Sample, -1) {
		if key := string(m[1]); !slices.Contains(keys, key) {
			keys = append(keys, key)
		}
	}
	return keys
}

// Every kind has its page under docs/collectors; the page shows the
// sample exactly as the binary embeds it, and explains every key of the
// sample outside it (as `key`), so docs and samples cannot drift apart.
func TestEveryKindHasItsPage(t *testing.T) {
	for _, k := range collector.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			path := filepath.Join("..", "..", "docs", "collectors", k.Name+".md")
			page, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("the kind has no page: %v", err)
			}
			sample := bytes.TrimSpace(k.Sample)
			if *update {
				page = withSample(t, path, page, sample)
			}
			i := bytes.Index(page, sample)
			if i < 0 {
				t.Fatalf("%s does not show the kind's sample verbatim (go test ./collectors/all -run Page -update copies it)", path)
			}
			prose := string(page[:i]) + string(page[i+len(sample):])
			for _, key := range sampleKeys(t, k) {
				if !strings.Contains(prose, "`"+key+"`") {
					t.Errorf("%s does not explain `%s` outside the sample", path, key)
				}
			}
			if !strings.Contains(prose, k.Summary) {
				t.Errorf("%s does not carry the kind's summary %q", path, k.Summary)
			}
		})
	}
}

// withSample replaces everything after the page's "## Sample" heading
// with the sample in an ini code block, and writes the page.
func withSample(t *testing.T, path string, page, sample []byte) []byte {
	t.Helper()
	const heading = "\n## Sample\n"
	i := bytes.Index(page, []byte(heading))
	if i < 0 {
		t.Fatalf("%s has no %q heading", path, strings.TrimSpace(heading))
	}
	var b bytes.Buffer
	b.Write(page[:i+len(heading)])
	b.WriteString("\n```ini\n")
	b.Write(sample)
	b.WriteString("\n```\n")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// The log vocabulary in the whole module: errors under "error" (never "err"),
// a submission's uuid under "uuid".
func TestLogVocabulary(t *testing.T) {
	logMethods := map[string]bool{"Debug": true, "Info": true, "Warn": true, "Error": true, "Log": true, "With": true}
	fset := token.NewFileSet()
	// The whole module: one vocabulary everywhere, not only in the kinds.
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || !logMethods[sel.Sel.Name] {
				return true
			}
			for i, a := range call.Args {
				lit, ok := a.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING || i+1 >= len(call.Args) {
					continue
				}
				key, _ := strconv.Unquote(lit.Value)
				if key == "err" {
					t.Errorf("%s: log key \"err\"; use \"error\"", fset.Position(lit.Pos()))
				}
				// Another system's uuid says whose it is (remote_uuid).
				if v, ok := call.Args[i+1].(*ast.SelectorExpr); ok && v.Sel.Name == "UUID" && key != "uuid" && !strings.HasSuffix(key, "_uuid") {
					t.Errorf("%s: a uuid logged under %q; use \"uuid\"", fset.Position(lit.Pos()), key)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
