package collectortest

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// NamedLines reads a fixture of sample lines: each line after a
// "# name: X" comment is sample X; other comments (sources, notes) and
// blank lines are skipped. A line without a name fails the test.
func NamedLines(t testing.TB, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	name := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# name: "):
			name = strings.TrimPrefix(line, "# name: ")
		case line == "" || strings.HasPrefix(line, "#"):
		default:
			if name == "" {
				t.Fatalf("%s: sample without a name: %q", path, line)
			}
			out[name] = line
			name = ""
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return out
}
