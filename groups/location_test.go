package groups

import (
	"strings"
	"testing"

	"github.com/go-ini/ini"

	"github.com/ace-collector/ace-collector/collector"
)

func parseProblems(t *testing.T, conf string) string {
	t.Helper()
	f, err := ini.Load([]byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	p := &collector.Problems{}
	ParseConfig(collector.NewConfigFile(f, p), "")
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

// A node whose location carries credentials (as an ACE node database may
// list it) is left out of delivery, and its password reaches no log line,
// no stored last_error and no status: with full delivery the group waits
// (blocked, saying why), without it the work fails with the redacted
// reason, and a group with another node delivers there.
func TestNodeLocationPasswordNeverStoredOrLogged(t *testing.T) {
	good := newNode(t)
	hostport := strings.TrimPrefix(good.location(), "http://")
	creds := Node{Name: "creds", Location: "http://admin:S3cretPW@" + hostport, AnyMode: true}
	ok := Node{Name: "good", Location: good.location(), AnyMode: true}
	conf := "[database_ace]\n" +
		"[collection_group_full]\ndatabase = ace\nfull_delivery = yes\n" + fast +
		"[collection_group_nofull]\ndatabase = ace\nfull_delivery = no\n" + fast +
		"[collection_group_mixed]\ndatabase = ace\nfull_delivery = yes\n" + fast
	p := startPipelineWith(t, t.TempDir(), conf, func(o *Options) {
		o.Sources = map[string]NodeSource{
			"full":   StaticNodes{creds},
			"nofull": StaticNodes{creds},
			"mixed":  StaticNodes{creds, ok},
		}
	})
	p.submit(2, nil)
	ctx := testCtx(t)
	good.waitFor(ctx, 2) // group mixed
	p.waitUntil(ctx, "nofull failed", func() bool { return p.count("nofull", "ERROR") == 2 })
	p.waitUntil(ctx, "full blocked", func() bool { return p.groupStatus("full").Blocked != "" })

	reasons := p.errorReasons(ctx)
	if len(reasons) != 2 {
		t.Fatalf("errors: %v", reasons)
	}
	for _, r := range reasons {
		if strings.Contains(r, "S3cretPW") || !strings.Contains(r, "api_key") || !strings.Contains(r, "node creds") {
			t.Fatalf("stored last_error %q: want the refusal, redacted", r)
		}
	}
	for _, g := range p.mgr.Groups() {
		if strings.Contains(g.Blocked, "S3cretPW") {
			t.Fatalf("status of %s: %s", g.Name, g.Blocked)
		}
	}
	if st := p.groupStatus("full"); !strings.Contains(st.Blocked, "REDACTED@") {
		t.Fatalf("full delivery group's reason: %q", st.Blocked)
	}
	for _, n := range p.mgr.Nodes() {
		if strings.Contains(n.Location, "S3cretPW") {
			t.Fatalf("node status: %+v", n)
		}
	}
	if got := p.count("full", "READY"); got != 2 {
		t.Fatalf("full delivery group: %d READY, want 2", got)
	}
	logs := p.logs.String()
	if strings.Contains(logs, "S3cretPW") {
		t.Fatalf("the password is in the log:\n%s", logs)
	}
	if len(p.logLines("level=WARN", "group=mixed", "node left out", "node=creds")) != 1 {
		t.Fatalf("no WARN about the refused node:\n%s", logs)
	}
}
