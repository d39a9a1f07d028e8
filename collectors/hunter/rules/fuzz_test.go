package rules

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse: any text gives a rule or errors naming the file, never a
// panic; a rule that loads is complete enough to schedule.
func FuzzParse(f *testing.F) {
	filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".ini") {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	f.Add([]byte("[rule]\ntype=sql\ndescription=%(a)s\na=%(b)s\nb=%(a)s\nfrequency=@daily\nquery=x\n"))
	f.Add([]byte("[rule]\ntype=sql\ndescription=d\nfrequency=0 0 30 2 *\nquery=\n  a\n  b\n[directives]\nx=a:b=c:d\n"))
	dir := f.TempDir()
	os.WriteFile(filepath.Join(dir, "q.sql"), []byte("# c\nSELECT 1\n"), 0o600)
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := Parse("fuzz.ini", data, Options{Resolve: func(p string) string { return filepath.Join(dir, filepath.Base(p)) }, Defaults: ACEDefaults})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.ini: ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if r.Name == "" || r.Description == "" || r.Type == "" || r.TimeRange <= 0 || r.MaxResultCount < 1 {
			t.Fatalf("incomplete rule %+v", r)
		}
		if n := r.Schedule.Next(at); !n.After(at) {
			t.Fatalf("schedule %v: next after %v is %v", r.Schedule, at, n)
		}
	})
}
