package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/daemon"
)

// validate reports routing rules naming unknown groups (errors), disabled
// ones (warnings), and rules without a default group to take the rest.
func TestValidateRoutingRules(t *testing.T) {
	_, p := load(t, `
[node_a]
location = http://127.0.0.1:1
[collection_group_main]
[collection_group_old]
enabled = no
[routing_rule_typo]
target = tool
regex = x
groups = mian
[routing_rule_legacy]
target = tool
regex = y
groups = old
`, nil)
	errs, warns := problemText(p.List()), problemText(p.Warnings())
	for _, want := range []string{"[routing_rule_typo] groups: no [collection_group_mian] section"} {
		if !strings.Contains(errs, want) {
			t.Errorf("errors lack %q:\n%s", want, errs)
		}
	}
	for _, want := range []string{"[routing_rule_legacy] groups: group old is disabled",
		"no enabled group has default = yes"} {
		if !strings.Contains(warns, want) {
			t.Errorf("warnings lack %q:\n%s", want, warns)
		}
	}
	if strings.Contains(errs, "legacy") {
		t.Errorf("a disabled group is an error:\n%s", errs)
	}
}

// Routing rules decide a submission's groups at enqueue; status and
// /metrics count per rule; a reload replaces the rules.
func TestRoutingRulesInStatusAndReload(t *testing.T) {
	locSIEM, toSIEM := sinkNode(t)
	locACE, toACE := sinkNode(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf(`[global]
data_dir = %s
[node_siem]
location = %s
[node_ace]
location = %s
[collection_group_siem]
target_nodes = siem
[collection_group_ace]
target_nodes = ace
default = yes
[collector_drop]
type = filedrop
directory = %s
rescan_interval = 50ms
`, dir, locSIEM, locACE, spool)
	d := startDaemon(t, base+"[routing_rule_alerts]\ntarget = description\nregex = alert\ngroups = siem\n")
	drop(t, spool, "alert.txt", "a")
	drop(t, spool, "other.txt", "b")
	eventually(t, "one delivery each", func() bool { return toSIEM() == 1 && toACE() == 1 })

	_, body := d.get(t, "/status.json")
	var rep daemon.Report
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Routing) != 1 || rep.Routing[0].Rule != "alerts" || rep.Routing[0].Matched != 1 ||
		strings.Join(rep.Routing[0].Groups, ",") != "siem" {
		t.Errorf("routing in status.json: %+v", rep.Routing)
	}
	_, text := d.get(t, "/status")
	if !strings.Contains(text, "ROUTING RULE") || !strings.Contains(text, "alerts") {
		t.Errorf("status page lacks the routing rules:\n%s", text)
	}
	_, metrics := d.get(t, "/metrics")
	for _, want := range []string{`ace_collector_routing_rule_matches_total{rule="alerts"} 1`,
		`ace_collector_routing_events_total{event="default"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// After a reload the rule sends what matches "other" to the SIEM too.
	if err := os.WriteFile(d.path, []byte(base+"[routing_rule_other]\ntarget = description\nregex = other\ngroups = siem, ace\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !d.Reload(context.Background()) {
		t.Fatal("reload refused")
	}
	drop(t, spool, "other2.txt", "c")
	eventually(t, "delivered to both", func() bool { return toSIEM() == 2 && toACE() == 2 })
	if got := d.Stats().Get("routing_rule:other", "matched"); got != 1 {
		t.Errorf("rule other matched %d after the reload", got)
	}
}
