package groups_test

import (
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups"
)

// A node whose location carries credentials (as an ACE node database may
// list it) is left out of delivery, and its password reaches no log line,
// no stored last_error and no status: with full delivery the group waits
// (blocked, saying why), without it the work fails with the redacted
// reason, and a group with another node delivers there.
func TestNodeLocationPasswordNeverStoredOrLogged(t *testing.T) {
	good := newNode(t)
	hostport := strings.TrimPrefix(good.location(), "http://")
	creds := groups.Node{Name: "creds", Location: "http://admin:S3cretPW@" + hostport, AnyMode: true}
	ok := groups.Node{Name: "good", Location: good.location(), AnyMode: true}
	conf := aceDatabase +
		"[collection_group_full]\ndatabase = ace\nfull_delivery = yes\n" + fast +
		"[collection_group_nofull]\ndatabase = ace\nfull_delivery = no\n" + fast +
		"[collection_group_mixed]\ndatabase = ace\nfull_delivery = yes\n" + fast
	p := startPipelineWith(t, t.TempDir(), conf, daemon.Options{NodeSources: map[string]groups.NodeSource{
		"full":   groups.StaticNodes{creds},
		"nofull": groups.StaticNodes{creds},
		"mixed":  groups.StaticNodes{creds, ok},
	}})
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
	for _, g := range p.Groups().Groups() {
		if strings.Contains(g.Blocked, "S3cretPW") {
			t.Fatalf("status of %s: %s", g.Name, g.Blocked)
		}
	}
	if st := p.groupStatus("full"); !strings.Contains(st.Blocked, "REDACTED@") {
		t.Fatalf("full delivery group's reason: %q", st.Blocked)
	}
	for _, n := range p.Groups().Nodes() {
		if strings.Contains(n.Location, "S3cretPW") {
			t.Fatalf("node status: %+v", n)
		}
	}
	if got := p.count("full", "READY"); got != 2 {
		t.Fatalf("full delivery group: %d READY, want 2", got)
	}
	logs := p.Logs()
	if strings.Contains(logs, "S3cretPW") {
		t.Fatalf("the password is in the log:\n%s", logs)
	}
	if len(p.logLines("level=WARN", "group=mixed", "node left out", "node=creds")) != 1 {
		t.Fatalf("no WARN about the refused node:\n%s", logs)
	}
}
