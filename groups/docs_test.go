package groups_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	_ "github.com/ace-collector/ace-collector/groups/all"
)

// -update rewrites the "## Sample" block of every type's page from the
// type's embedded sample: go test ./groups -run Page -update
var update = flag.Bool("update", false, "rewrite the sample block of the docs/groups pages")

// sampleBlock is a page's "## Sample" section's ini block.
var sampleBlock = regexp.MustCompile("(?s)(## Sample\n.*?```ini\n)(.*?)(```\n)")

// Every type package (a folder of groups/ with a sample.ini) is imported
// by groups/all and registered under its folder's name.
func TestEveryTypePackageIsRegistered(t *testing.T) {
	samples, err := filepath.Glob(filepath.Join("*", "sample.ini"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, s := range samples {
		dirs = append(dirs, filepath.Dir(s))
	}
	slices.Sort(dirs)
	if len(dirs) < 5 || !slices.Equal(dirs, groups.TypeNames()) {
		t.Errorf("type packages %v, registered types %v: import each in groups/all/all.go", dirs, groups.TypeNames())
	}
}

// parseSample parses a type's sample (and a node for the ace type) as the
// daemon's loader does, and returns the sample's sections.
func parseSample(t *testing.T, typ groups.Type) (*collector.ConfigFile, *collector.Problems, []string) {
	t.Helper()
	f, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, typ.Sample, []byte("[node_n]\nlocation = http://127.0.0.1:1\n"))
	if err != nil {
		t.Fatalf("%s sample is not INI: %v", typ.Name, err)
	}
	var secs []string
	for _, s := range f.Sections() {
		if s.Name() != ini.DefaultSection && s.Name() != "node_n" {
			secs = append(secs, s.Name())
		}
	}
	p := &collector.Problems{}
	cf := collector.NewConfigFile(f, p)
	groups.ParseConfig(cf, collector.Global{Node: "n", Hostname: "h", BaseDir: t.TempDir()})
	cf.Done()
	return cf, p, secs
}

// Every type's sample holds only [collection_group_*] sections of its type
// and parses without a problem (warnings allowed: a drop directory that
// does not exist yet).
func TestEveryTypeSampleParses(t *testing.T) {
	for _, typ := range groups.Types() {
		_, p, secs := parseSample(t, typ)
		if len(secs) == 0 {
			t.Errorf("%s sample has no section", typ.Name)
		}
		for _, s := range secs {
			if !strings.HasPrefix(s, "collection_group_") {
				t.Errorf("%s sample has section [%s]; only [collection_group_NAME] belongs in it", typ.Name, s)
			}
		}
		for _, e := range p.List() {
			t.Errorf("%s sample: %v", typ.Name, e)
		}
		f, _ := ini.Load(typ.Sample)
		for _, s := range secs {
			if got := f.Section(s).Key("type").String(); got != typ.Name {
				t.Errorf("%s sample: [%s] type = %q", typ.Name, s, got)
			}
		}
	}
}

// Every key a type's section understands (and, for ace, every [node_NAME]
// key) is documented on the type's page, in backticks, and the page shows
// the sample verbatim.
func TestGroupTypePageDocumentsEveryKey(t *testing.T) {
	for _, typ := range groups.Types() {
		path := filepath.Join("..", "docs", "groups", typ.Name+".md")
		page, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("group type %s has no page: %v", typ.Name, err)
			continue
		}
		cf, _, secs := parseSample(t, typ)
		if typ.Nodes {
			secs = append(secs, "node_n")
		}
		for _, sec := range secs {
			keys := cf.Section(sec).KnownKeys()
			if len(keys) < 3 {
				t.Fatalf("[%s] reads only %v", sec, keys)
			}
			for _, k := range keys {
				if !strings.Contains(string(page), "`"+k+"`") {
					t.Errorf("docs/groups/%s.md does not document [%s] key `%s`", typ.Name, sec, k)
				}
			}
		}
		m := sampleBlock.FindSubmatchIndex(page)
		if m == nil {
			t.Errorf("docs/groups/%s.md has no \"## Sample\" section with an ini block", typ.Name)
			continue
		}
		if *update {
			out := append(append(append([]byte{}, page[:m[4]]...), typ.Sample...), page[m[5]:]...)
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if !bytes.Equal(page[m[4]:m[5]], typ.Sample) {
			t.Errorf("docs/groups/%s.md does not show the sample verbatim (go test ./groups -run Page -update)", typ.Name)
		}
	}
}

// The shared page names every type.
func TestGroupsREADMEListsEveryType(t *testing.T) {
	page, err := os.ReadFile(filepath.Join("..", "docs", "groups", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range groups.TypeNames() {
		if !strings.Contains(string(page), "("+name+".md)") {
			t.Errorf("docs/groups/README.md does not link %s.md", name)
		}
	}
}
