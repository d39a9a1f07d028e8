package groups_test

import (
	"os"
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/groups"
)

// Every key a [collection_group_NAME] and a [node_NAME] section understand
// is documented on the group type's page, in backticks.
func TestGroupTypePageDocumentsEveryKey(t *testing.T) {
	page, err := os.ReadFile("../docs/groups/" + groups.TypeACE + ".md")
	if err != nil {
		t.Fatalf("group type %s has no page: %v", groups.TypeACE, err)
	}
	f, err := ini.Load([]byte("[collection_group_g]\n[node_n]\nlocation = http://127.0.0.1:1\n"))
	if err != nil {
		t.Fatal(err)
	}
	cf := collector.NewConfigFile(f, &collector.Problems{})
	groups.ParseConfig(cf, collector.Global{})
	for _, sec := range []string{"collection_group_g", "node_n"} {
		keys := cf.Section(sec).KnownKeys()
		if len(keys) < 3 {
			t.Fatalf("[%s] reads only %v", sec, keys)
		}
		for _, k := range keys {
			if !strings.Contains(string(page), "`"+k+"`") {
				t.Errorf("docs/groups/%s.md does not document [%s] key `%s`", groups.TypeACE, sec, k)
			}
		}
	}
}
