package daemon_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	_ "github.com/ace-collector/ace-collector/collectors/all"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/ace"
)

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.ini")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func problemText(errs []error) string {
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	return strings.Join(all, "\n")
}

func load(t *testing.T, text string, env map[string]string) (*daemon.Config, *collector.Problems) {
	t.Helper()
	c, p, err := daemon.Load([]string{writeConfig(t, text)}, daemon.LoadOptions{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Hostname:  func() (string, error) { return "sensor1", nil },
		FQDN:      func(h string) string { return h + ".corp.example" },
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// Every example under configs/ must load and validate, so they never rot.
func TestExampleConfigsValidate(t *testing.T) {
	files, err := filepath.Glob("../configs/*.ini")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example configs found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, p, err := daemon.Load([]string{f}, daemon.LoadOptions{LookupEnv: func(string) (string, bool) { return "x", true }})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.List() {
				t.Errorf("%s: %v", f, e)
			}
		})
	}
}

func TestValidateReportsEveryMistake(t *testing.T) {
	conf := `
[global]
node = n1
log_level = loud

[collection]
store = embedded
colour = blue
incomming_dir = /tmp/x
status_listen = :8765

[node_a]
analysis_modes = any

[node_b]
location = 127.0.0.1:443

[collection_group_g]
coverage = 150
full_delivery = maybe
target_nodes = nosuchnode
batch_sise = 10
ca_chain_path = /nonexistent/ca.pem

[node_translation]
x = only-one-part
y = 10.9.9.9:443,127.0.0.1:443

[collector_c]
type = nosuchkind

[collector_d]
type = filedrpo

[collectors_x]
type = filedrop

[collection-group_y]
coverage = 10

[tuning_rule_t]
targte = description
regex = x
password = ${NOT_SET_ANYWHERE}
`
	_, p := load(t, conf, nil)
	text := problemText(p.List())
	if w := problemText(p.Warnings()); !strings.Contains(w, "[collection] colour: not used by ace-collector") {
		t.Errorf("unknown key in [collection] (a section ACE owns) not a warning; warnings:\n%s", w)
	}
	for _, want := range []string{
		"[global] log_level",
		`[collection] incomming_dir: unknown key (did you mean "incoming_dir"?)`,
		"[collection] status_listen: listen address \":8765\" has no host",
		"[node_a] location: required",
		"[collection_group_g] coverage: 150 is out of range",
		"[collection_group_g] full_delivery",
		`[collection_group_g] batch_sise: unknown key (did you mean "batch_size"?)`,
		"[collection_group_g] target_nodes",
		"[collection_group_g] ca_chain_path: stat /nonexistent/ca.pem",
		"[node_translation] x",
		`[node_translation]: "10.9.9.9:443" matches no configured node location`,
		"[collector_c] type: unknown collector type",
		`[collector_d] type: unknown collector type "filedrpo"`,
		`did you mean "filedrop"?`,
		"[collectors_x]: unknown section (did you mean [collector_...]?)",
		"[collection-group_y]: unknown section (did you mean [collection_group_...]?)",
		`[tuning_rule_t] targte: unknown key (did you mean "target"?)`,
		"[tuning_rule_t] password: environment variable NOT_SET_ANYWHERE is not set",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("problem %q not reported; got:\n%s", want, text)
		}
	}
}

// An ACE user's collection sections load with warnings only: keys ACE
// reads and this project does not, and ACE features it replaces.
func TestACEDefaultSectionsValidateWithWarningsOnly(t *testing.T) {
	c, p, err := daemon.Load([]string{"testdata/ace-collection-defaults.ini"}, daemon.LoadOptions{
		Hostname: func() (string, error) { return "ace1", nil },
		FQDN:     func(h string) string { return h + ".corp.example" },
	})
	if err != nil {
		t.Fatal(err)
	}
	if errs := p.List(); len(errs) > 0 {
		t.Fatalf("errors:\n%s", problemText(errs))
	}
	warn := problemText(p.Warnings())
	for _, want := range []string{
		"[global] instance_type: not used by ace-collector",
		"[collection] tuning_dir_default: ACE's yara tuning directories are not read; write [tuning_rule_NAME]",
		"[collection] force_api: not used by ace-collector",
		"[service_email_collector]: ACE's email collector service is replaced by [collector_NAME] sections",
		"[service_email_collector] assignment_yara_rule_path: ace-collector does not scan with yara",
		"[collection_group_unittest] target_node_company_id: ACE's documentation names this key",
		"[database_collection] max_allowed_packet: not used by ace-collector",
		"[api]: section not used by ace-collector",
		"[collector_*]: no enabled collector",
	} {
		if !strings.Contains(warn, want) {
			t.Errorf("warning %q missing; got:\n%s", want, warn)
		}
	}
	if c.Global.Node != "ace1.corp.example" {
		t.Errorf("node = AUTO resolved to %q, want the FQDN", c.Global.Node)
	}
	if c.IncomingDir != filepath.Join("data", "var", "collection", "incoming") ||
		c.Store.Path != filepath.Join("data", "var", "collection", "persistence", "collection.db") {
		t.Errorf("directories not under data_dir: incoming %q, store %q", c.IncomingDir, c.Store.Path)
	}
}

func TestEnvironmentValues(t *testing.T) {
	conf := `
[collection]
incoming_dir = ${SPOOL}/incoming
[node_a]
location = http://127.0.0.1:1
[collection_group_g]
api_key = ${ACE_API_KEY}
`
	c, p := load(t, conf, map[string]string{"SPOOL": "/var/spool/ace", "ACE_API_KEY": "s3cret"})
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	st, _ := c.Groups.Groups[0].Settings.(*ace.Settings)
	if c.IncomingDir != "/var/spool/ace/incoming" || st == nil || st.APIKey != "s3cret" {
		t.Errorf("not expanded: incoming %q, ace settings %+v", c.IncomingDir, st)
	}
}

func TestSummaryLine(t *testing.T) {
	conf := `
[node_a]
location = http://127.0.0.1:1
[collection_group_g]
[collector_a]
type = filedrop
directory = ` + t.TempDir() + `
[collector_b]
type = filedrop
enabled = no
directory = ` + t.TempDir() + `
`
	c, p := load(t, conf, nil)
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	want := "collectors: 2 filedrop (1 disabled); 1 group(s): g; 1 node(s); store embedded"
	if got := c.Summary(); !strings.HasPrefix(got, want) {
		t.Errorf("summary %q, want prefix %q", got, want)
	}
}

// What `ace-collector sample KIND` prints, appended to a minimal
// configuration, validates: the samples are usable as they are.
func TestEveryKindsSampleValidatesInAMinimalConfig(t *testing.T) {
	minimal := "[node_a]\nlocation = http://127.0.0.1:1\n[collection_group_g]\n"
	for _, k := range collector.Kinds() {
		t.Run(k.Name, func(t *testing.T) {
			c, p, err := daemon.LoadData(k.Name+".ini", []byte(minimal+string(k.Sample)), daemon.LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if errs := p.List(); len(errs) > 0 {
				t.Fatalf("sample of %s:\n%s", k.Name, problemText(errs))
			}
			if c.Kinds[k.Name] == 0 {
				t.Errorf("sample of %s configures no %s collector", k.Name, k.Name)
			}
		})
	}
}

func TestDuplicateSectionsAndKeysAreErrors(t *testing.T) {
	conf := "[node_a]\nlocation = http://127.0.0.1:1\n[collection_group_g]\ncoverage = 10\ncoverage = 20\n[node_a]\nlocation = http://127.0.0.1:2\n"
	_, p := load(t, conf, nil)
	text := problemText(p.List())
	for _, want := range []string{`test.ini:5: [collection_group_g] key "coverage" also set at line 4`, "test.ini:6: section [node_a] also starts at line 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("duplicate not reported with %s:\n%s", want, text)
		}
	}
}

func TestValidateRefusesOverlappingDirectories(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "incoming", "projectA"), 0o750)
	conf := `
[collection]
incoming_dir = ` + dir + `/incoming
persistence_dir = ` + dir + `/incoming/db
[node_a]
location = http://127.0.0.1:1
[collection_group_g]
[collector_drop]
type = filedrop
directory = ` + dir + `/incoming
recursive = yes
`
	_, p := load(t, conf, nil)
	text := problemText(p.List())
	if !strings.Contains(text, "is the same directory as collector \"drop\"") || !strings.Contains(text, "persistence_dir") {
		t.Errorf("overlaps not refused:\n%s", text)
	}
	if w := problemText(p.Warnings()); !strings.Contains(w, "projectA") {
		t.Errorf("foreign entry not warned about:\n%s", w)
	}
}
