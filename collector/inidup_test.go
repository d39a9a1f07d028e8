package collector

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/go-ini/ini"
)

func TestINIDuplicates(t *testing.T) {
	for _, tc := range []struct {
		name string
		ini  string
		want []string
	}{
		{name: "clean", ini: "[global]\nnode = a\n[collector_x]\ndirectory = /d\n", want: nil},
		{name: "repeated key", ini: "[collector_x]\ndirectory = /a\ntype = filedrop\ndirectory = /b\n",
			want: []string{`f.ini:4: [collector_x] key "directory" also set at line 2`}},
		{name: "colon delimiter", ini: "[s]\nk: 1\nk = 2\n",
			want: []string{`f.ini:3: [s] key "k" also set at line 2`}},
		{name: "repeated section", ini: "[collector_x]\na = 1\n\n[other]\nb = 2\n[collector_x]\nc = 3\n",
			want: []string{"f.ini:6: section [collector_x] also starts at line 1"}},
		{name: "repeated section and key", ini: "[s]\nk = 1\n[s]\nk = 2\n", want: []string{
			"f.ini:3: section [s] also starts at line 1",
			`f.ini:4: [s] key "k" also set at line 2`}},
		{name: "three times, each against the first", ini: "[s]\nk=1\nk=2\nk=3\n", want: []string{
			`f.ini:3: [s] key "k" also set at line 2`,
			`f.ini:4: [s] key "k" also set at line 2`}},
		{name: "case-sensitive sections and keys", ini: "[S]\nk = 1\nK = 1\n[s]\nk = 2\n", want: nil},
		{name: "same key in different sections", ini: "[a]\nk = 1\n[b]\nk = 2\n", want: nil},
		{name: "before any section is DEFAULT", ini: "k = 1\n[DEFAULT]\nk = 2\n",
			want: []string{`f.ini:3: [DEFAULT] key "k" also set at line 1`}},
		{name: "spaces and trailing comment", ini: "  [s] ; note\n  k   =  1 ; x\n\tk=2\n", want: []string{
			`f.ini:3: [s] key "k" also set at line 2`}},
		{name: "comments are not keys", ini: "[s]\n; k = 1\n# k = 2\nk = 3\n", want: nil},
		{name: "section names are not trimmed", ini: "[s]\n[s ]\n", want: nil},
		{name: "CRLF", ini: "[s]\r\nk = 1\r\nk = 2\r\n", want: []string{`f.ini:3: [s] key "k" also set at line 2`}},
		{name: "BOM", ini: "\ufeff[s]\nk = 1\n[s]\n", want: []string{"f.ini:3: section [s] also starts at line 1"}},
		{name: "continuation lines belong to the value", ini: "[s]\nk = a \\\nk = b \\\nk = c\nk = d\n",
			want: []string{`f.ini:5: [s] key "k" also set at line 2`}},
		{name: "continuation ends at an empty line", ini: "[s]\nk = a \\\n\nk = b\n",
			want: []string{`f.ini:4: [s] key "k" also set at line 2`}},
		{name: "triple-quoted value spans lines", ini: "[s]\nk = \"\"\"one\nk = two\n[s]\n\"\"\"\nj = 1\nj = 2\n",
			want: []string{`f.ini:7: [s] key "j" also set at line 6`}},
		{name: "backquoted value spans lines", ini: "[s]\nk = `one\nk = two`\nk = 3\n",
			want: []string{`f.ini:4: [s] key "k" also set at line 2`}},
		{name: "quoted key", ini: "[s]\n\"a=b\" = 1\n`a=b` = 2\n",
			want: []string{`f.ini:3: [s] key "a=b" also set at line 2`}},
		{name: "unparseable lines skipped", ini: "[s]\nk = 1\njunk\n[unclosed\nk = 2\n",
			want: []string{`f.ini:5: [s] key "k" also set at line 2`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, err := range INIDuplicates("f.ini", []byte(tc.ini)) {
				got = append(got, err.Error())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("INIDuplicates:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// FuzzINIDuplicates checks the scanner against go-ini itself, loaded with
// the daemon's options: whenever go-ini accepts a file, the scanner sees
// the same sections, in order, and the same keys in each; and every error
// names a line of the file and an earlier first occurrence.
func FuzzINIDuplicates(f *testing.F) {
	for _, s := range []string{
		"[global]\nnode = a\n[collector_x]\ndirectory = /d\ndirectory = /e\n",
		"k = 1\n[DEFAULT]\nk = 2\n[s]\n- = a\n- = b\n[s]\n- = c\n",
		"[s]\nk = a \\\nk = b \\\n\nk = c\n",
		"[s]\nk = \"\"\"one\nk = two\n\"\"\"\n`q:k` = `x\ny`\n\"\"\"k\"\"\" = 1\n",
		"\ufeff[s] ; c\r\n  k: 1 # c\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		errs := INIDuplicates("f.ini", data)
		lines := strings.Count(string(data), "\n") + 1
		for _, err := range errs {
			var at, first int
			if _, serr := fmt.Sscanf(strings.TrimPrefix(err.Error(), "f.ini:"), "%d:", &at); serr != nil || at < 1 || at > lines {
				t.Fatalf("error %q names no line of the file", err)
			}
			rest := err.Error()[strings.LastIndex(err.Error(), " at line ")+len(" at line "):]
			if _, serr := fmt.Sscanf(rest, "%d", &first); serr != nil || first < 1 || first >= at {
				t.Fatalf("error %q: the first occurrence is not an earlier line", err)
			}
		}
		file, err := ini.LoadSources(ini.LoadOptions{SpaceBeforeInlineComment: true}, data)
		if err != nil {
			return
		}
		keys := map[string][]string{}
		sections := []string{ini.DefaultSection}
		for _, e := range scanINI(data) {
			if !slices.Contains(sections, e.section) {
				sections = append(sections, e.section)
			}
			if e.key != "" && !slices.Contains(keys[e.section], e.key) {
				keys[e.section] = append(keys[e.section], e.key)
			}
		}
		if got := file.SectionStrings(); !slices.Equal(got, sections) {
			t.Fatalf("sections: go-ini %q, scanner %q", got, sections)
		}
		for _, sec := range file.Sections() {
			if got := sec.KeyStrings(); !slices.Equal(got, keys[sec.Name()]) {
				t.Fatalf("keys of [%s]: go-ini %q, scanner %q", sec.Name(), got, keys[sec.Name()])
			}
		}
	})
}
