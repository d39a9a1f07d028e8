package groups_test

import (
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
	_ "github.com/ace-collector/ace-collector/groups/all"
)

func parseProblems(t *testing.T, conf string) string {
	t.Helper()
	f, err := ini.Load([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := &collector.Problems{}
	groups.ParseConfig(collector.NewConfigFile(f, p), collector.Global{})
	if err := p.Err(); err != nil {
		return err.Error()
	}
	return ""
}

// validate checks node locations and translation targets with the parser
// delivery uses, and never repeats a password while refusing one.
func TestConfigChecksLocations(t *testing.T) {
	tests := []struct {
		loc  string
		want string // "" = accepted, else a fragment of the problem
	}{
		{"ace.example:443", ""},
		{"https://ace.example:443", ""},
		{"http://127.0.0.1:8080", ""},
		{"[::1]:8443", ""},
		{"admin:S3cretPW@host:443", "api_key"},
		{"https://admin:S3cretPW@host:443", "api_key"},
		{"host:notaport", "not a number"},
		{"host:1:2", "too many colons"},
		{"%zz:443", "contains"},
		{"host", "missing port"},
		{"https://host:443/ace", "path"},
		{"host:70000", "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.loc, func(t *testing.T) {
			node := "[node_a]\nlocation = " + tt.loc + "\n[collection_group_g]\n"
			trans := "[node_a]\nlocation = ace.example:443\n[node_translation]\nx = ace.example:443," + tt.loc + "\n[collection_group_g]\n"
			for what, conf := range map[string]string{"[node_a] location": node, "[node_translation] target": trans} {
				got := parseProblems(t, conf)
				if strings.Contains(got, "S3cretPW") {
					t.Fatalf("%s: the problem repeats the password: %s", what, got)
				}
				if tt.want == "" {
					if got != "" {
						t.Fatalf("%s %q refused: %s", what, tt.loc, got)
					}
					continue
				}
				if !strings.Contains(got, tt.want) {
					t.Fatalf("%s %q: problems %q, want one mentioning %q", what, tt.loc, got, tt.want)
				}
			}
		})
	}
}
