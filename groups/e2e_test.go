package groups_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collectors/common/cef"
	"github.com/ace-collector/ace-collector/groups/syslog/rsyslogtest"
)

// The same submission goes to an ACE node, to rsyslog as CEF over TLS and
// to a file drop at once, each group on its own; its record and files are
// deleted only once all three have it.
func TestOneSubmissionToACERsyslogAndFileDrop(t *testing.T) {
	rs := rsyslogtest.Require(t)
	n := newNode(t)
	n.mode.Store("503") // the ACE node is the last to take it
	drop := t.TempDir()
	p := startPipeline(t, nodeSection("ace1", n.location())+
		"[collection_group_ace]\n"+fast+
		"[collection_group_siem]\ntype = syslog\ntarget = tls://"+rs.TLSAddr+"\nca_chain_path = "+rs.CAFile+"\nformat = cef\n"+fast+
		"[collection_group_drop]\ntype = filedrop\ndirectory = "+drop+"\n"+fast)
	sub := p.submit(1, func(_ int, s *collector.Submission) { s.AddObservable(collector.ObsURL, "https://evil.example/") })[0]
	ctx := testCtx(t)

	lines, err := rs.WaitLines(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := cef.ParseCEF(lines[0].Msg)
	if err != nil || ev.Ext["externalId"] != sub.UUID || ev.Ext["request"] != "https://evil.example/" || ev.Ext["src"] != "192.0.2.1" {
		t.Fatalf("rsyslog received %+v (%v)", lines[0], err)
	}
	p.waitUntil(ctx, "the drop and the SIEM done", func() bool {
		return p.count("siem", "COMPLETED") == 1 && p.count("drop", "COMPLETED") == 1
	})
	var doc struct {
		UUID  string `json:"uuid"`
		Files []struct{ Path string }
	}
	b, err := os.ReadFile(filepath.Join(drop, sub.UUID, "submission.json"))
	if err != nil || json.Unmarshal(b, &doc) != nil || doc.UUID != sub.UUID || len(doc.Files) != 1 {
		t.Fatalf("file drop: %s %v", b, err)
	}
	if got, err := os.ReadFile(filepath.Join(drop, sub.UUID, doc.Files[0].Path)); err != nil || string(got) != "content 0" {
		t.Fatalf("dropped file %q %v", got, err)
	}
	// Two groups are done, the ACE node still refuses: nothing to clean up.
	p.waitUntil(ctx, "an ACE retry", func() bool { return p.Stats().Get("group:ace", "retried") >= 1 })
	if cleaned, err := p.Runtime().CleanupOnce(ctx); err != nil || cleaned != 0 {
		t.Fatalf("cleanup removed %d submissions (%v) while the ACE group had not delivered", cleaned, err)
	}
	if p.backlog() != 1 || p.incomingDirs() != 1 {
		t.Fatalf("backlog %d, incoming dirs %d before the last group delivered", p.backlog(), p.incomingDirs())
	}

	n.mode.Store("accept")
	got := n.waitFor(ctx, 1)
	if got[0].SubmissionUUID != sub.UUID || len(got[0].Files) != 1 {
		t.Fatalf("ACE node received %+v", got[0])
	}
	p.waitUntil(ctx, "cleanup after all three", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
	for _, g := range []string{"ace", "siem", "drop"} {
		if d := p.Stats().Get("group:"+g, "delivered"); d != 1 {
			t.Errorf("group %s delivered %d", g, d)
		}
	}
	if st := p.groupStatus("siem"); st.Type != "syslog" {
		t.Errorf("status type %q", st.Type)
	}
}
