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
	cf := collector.NewConfigFile(f, p)
	groups.ParseConfig(cf, collector.Global{})
	cf.Done() // unknown keys, as the daemon's loader reports them
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

// Each type's keys are checked by its package, a node type's node keys
// only for it, and an unknown type is named with a suggestion.
func TestGroupTypeConfigProblems(t *testing.T) {
	for _, tt := range []struct{ conf, want string }{
		{"[collection_group_g]\ntype = sylog\n", `unknown group type "sylog"`},
		{"[collection_group_g]\ntype = sylog\n", `did you mean "syslog"?`},
		{"[collection_group_g]\ntype = syslog\n", "[collection_group_g] target: required"},
		{"[collection_group_g]\ntype = syslog\ntarget = http://siem:514\n", `scheme "http": want udp, tcp or tls`},
		{"[collection_group_g]\ntype = syslog\ntarget = tcp://siem:514\nformat = template\n", "format = template needs template"},
		{"[collection_group_g]\ntype = syslog\ntarget = tcp://siem:514\nformat = template\ntemplate = {{.Nope\n", "[collection_group_g] template:"},
		{"[collection_group_g]\ntype = syslog\ntarget = tcp://siem:514\ntarget_nodes = a\n", "[collection_group_g] target_nodes: unknown key"},
		{"[collection_group_g]\ntype = filedrop\n", "[collection_group_g] directory: required"},
		{"[collection_group_g]\ntype = filedrop\ndirectory = /tmp\nformat = xml\n", `"xml" is not one of json, eml`},
		{"[collection_group_g]\ntype = smtp\nserver = mail:25\n", "[collection_group_g] to: required"},
		{"[collection_group_g]\ntype = smtp\nserver = mail:25\nto = a@b\ntls = none\nusername = u\npassword = p\n", "AUTH would send the password in the clear"},
		{"[collection_group_g]\ntype = smtp\nserver = mail\nto = a@b\n", `"mail": want host:port`},
		{"[collection_group_g]\ntype = http\nurl = https://u:p@soar.example/\n", "credentials in the URL"},
		{"[collection_group_g]\ntype = http\nurl = https://soar.example/\nusername = u\n", "username and password go together"},
		{"[collection_group_g]\ntype = http\nurl = https://soar.example/\nheader.X-Key = v\nverify_tls = no\n", ""},
		{"[node_a]\nlocation = http://127.0.0.1:1\nweight = 0\n[collection_group_g]\n", "[node_a] weight: 0 is out of range 1..1000"},
	} {
		got := parseProblems(t, tt.conf)
		if tt.want == "" && got != "" || !strings.Contains(got, tt.want) {
			t.Errorf("%q:\nproblems %q\nwant %q", tt.conf, got, tt.want)
		}
	}
}
