package groups_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

const fast = "backoff_min = 10ms\nbackoff_max = 200ms\n"

func TestCoverageDeliveries(t *testing.T) {
	n := newNode(t)
	conf := nodeSection("a", n.location())
	for _, g := range []struct {
		name string
		cov  int
	}{{"all", 100}, {"half", 50}, {"tenth", 10}} {
		conf += fmt.Sprintf("[collection_group_%s]\ncoverage = %d\nfull_delivery = yes\n", g.name, g.cov)
	}
	p := startPipeline(t, conf)
	p.submit(10, nil)
	ctx := testCtx(t)
	n.waitFor(ctx, 16)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
	if got := len(n.received()); got != 16 {
		t.Fatalf("node received %d, want 10+5+1", got)
	}
	for g, want := range map[string]int64{"all": 10, "half": 5, "tenth": 1} {
		if got := p.Stats().Get("group:"+g, "delivered"); got != want {
			t.Errorf("group %s delivered %d, want %d", g, got, want)
		}
	}
	if got := p.Stats().Get("group:tenth", "skipped_coverage"); got != 9 {
		t.Errorf("group tenth skipped %d, want 9", got)
	}
}

func TestFullDeliveryOutageThenRecovery(t *testing.T) {
	addr, start := newDownNode(t)
	p := startPipeline(t, nodeSection("a", "http://"+addr)+"[collection_group_g]\nfull_delivery = yes\nretry_max = 0\n"+fast)
	p.submit(5, nil)
	ctx := testCtx(t)
	// Refused: items are retried, never ERROR.
	p.waitUntil(ctx, "a refused attempt", func() bool { return p.Stats().Get("group:g", "retried") >= 1 })
	n := start()
	n.mode.Store("503")
	p.waitUntil(ctx, "503 answers", func() bool { return n.requests.Load() >= 2 })
	if e := p.count("g", "ERROR"); e != 0 {
		t.Fatalf("%d items ERROR during the outage", e)
	}
	n.mode.Store("accept")
	got := n.waitFor(ctx, 5)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	if p.count("g", "ERROR") != 0 || p.Stats().Get("group:g", "errors") != 0 {
		t.Fatal("an item ended in ERROR")
	}
	seen := map[string]bool{}
	for _, r := range got {
		seen[r.SubmissionUUID] = true
	}
	if len(seen) != 5 {
		t.Fatalf("distinct submissions delivered: %d", len(seen))
	}
}

func TestPermanentRejectionIsParkedWithReason(t *testing.T) {
	n := newNode(t)
	n.mode.Store("400")
	p := startPipeline(t, nodeSection("a", n.location())+"[collection_group_g]\nfull_delivery = yes\n"+fast)
	p.submit(1, nil)
	ctx := testCtx(t)
	p.waitUntil(ctx, "ERROR", func() bool { return p.count("g", "ERROR") == 1 })
	errs, err := p.Store().Errors(ctx, 10)
	if err != nil || len(errs) != 1 {
		t.Fatalf("errors = %+v, %v", errs, err)
	}
	if !strings.Contains(errs[0].LastError, "400") || !strings.Contains(errs[0].LastError, "node says 400") {
		t.Errorf("error record lacks the response text: %q", errs[0].LastError)
	}
	if !strings.Contains(p.Logs(), "node says 400") {
		t.Errorf("response text not logged:\n%s", p.Logs())
	}
	if n.requests.Load() != 1 {
		t.Errorf("a permanent rejection was retried: %d requests", n.requests.Load())
	}
	// Parked: the record and its files stay for `queue retry`.
	if p.backlog() != 1 || p.incomingDirs() != 1 {
		t.Fatalf("parked item was cleaned up")
	}
	n.mode.Store("accept")
	if r, _ := p.Store().RetryErrors(ctx, "g"); r != 1 {
		t.Fatalf("retry put back %d", r)
	}
	n.waitFor(ctx, 1)
	p.waitUntil(ctx, "cleanup after retry", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
}

func TestNoFullDeliveryOneAttemptThenCleanup(t *testing.T) {
	n := newNode(t)
	n.mode.Store("503")
	p := startPipeline(t, nodeSection("a", n.location())+"[collection_group_g]\nfull_delivery = no\n"+fast)
	p.submit(3, nil)
	ctx := testCtx(t)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
	if got := n.requests.Load(); got != 3 {
		t.Fatalf("%d requests for 3 items, want exactly one attempt each", got)
	}
	if got := p.Stats().Get("group:g", "errors"); got != 3 {
		t.Fatalf("errors = %d", got)
	}
}

func TestNoFullDeliveryNodeDown(t *testing.T) {
	addr, _ := newDownNode(t)
	p := startPipeline(t, nodeSection("a", "http://"+addr)+"[collection_group_g]\nfull_delivery = no\n"+fast)
	p.submit(2, nil)
	ctx := testCtx(t)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
	if got := p.Stats().Get("group:g", "retried"); got != 0 {
		t.Fatalf("retried %d times without full delivery", got)
	}
}

func TestTwoGroupsFilesStayUntilBothDone(t *testing.T) {
	up := newNode(t)
	addr, start := newDownNode(t)
	p := startPipeline(t, nodeSection("up", up.location())+nodeSection("down", "http://"+addr)+
		"[collection_group_one]\ntarget_nodes = up\n"+fast+
		"[collection_group_two]\ntarget_nodes = down\nfull_delivery = yes\n"+fast)
	p.submit(2, nil)
	ctx := testCtx(t)
	up.waitFor(ctx, 2)
	p.waitUntil(ctx, "group one completed", func() bool { return p.count("one", "COMPLETED") == 2 })
	p.waitUntil(ctx, "group two retried", func() bool { return p.Stats().Get("group:two", "retried") >= 2 })
	if p.backlog() != 2 || p.incomingDirs() != 2 {
		t.Fatalf("backlog %d, dirs %d: removed before group two delivered", p.backlog(), p.incomingDirs())
	}
	down := start()
	got := down.waitFor(ctx, 2)
	for _, r := range got {
		if len(r.Files) != 1 || r.Files[0].Name != "sample.txt" {
			t.Fatalf("files at group two's node: %+v", r.Files)
		}
	}
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
}

// A submission handed to the workers of two groups at enqueue is one value
// shared by both: a group's company_id goes into what that group sends,
// never into what the other one sends.
func TestGroupCompanyIDStaysInItsGroup(t *testing.T) {
	n1, n2 := newNode(t), newNode(t)
	p := startPipeline(t, nodeSection("one", n1.location())+nodeSection("two", n2.location())+
		"[collection_group_g1]\ntarget_nodes = one\ncompany_id = 7\n[collection_group_g2]\ntarget_nodes = two\n")
	p.submit(20, nil)
	ctx := testCtx(t)
	for _, tc := range []struct {
		node *node
		want int
	}{{n1, 7}, {n2, 0}} {
		for _, r := range tc.node.waitFor(ctx, 20) {
			if r.CompanyID != tc.want {
				t.Fatalf("%s received company_id %d, want %d", r.SubmissionUUID, r.CompanyID, tc.want)
			}
		}
	}
}

func TestTargetNodesLocalAndTranslation(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	conf := "[global]\nnode = nodeb\n" +
		nodeSection("a", a.location()) + nodeSection("nodeb", b.location()) +
		nodeSection("c", "10.255.0.1:443") +
		"[node_translation]\nc = 10.255.0.1:443," + c.location() + "\n" +
		"[collection_group_local]\ntarget_nodes = LOCAL\n" +
		"[collection_group_natted]\ntarget_nodes = c\n"
	p := startPipeline(t, conf)
	p.submit(3, nil)
	ctx := testCtx(t)
	b.waitFor(ctx, 3)
	c.waitFor(ctx, 3)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	if len(a.received()) != 0 {
		t.Fatalf("node a received %d submissions but no group targets it", len(a.received()))
	}
}

func TestGroupAssignments(t *testing.T) {
	n1, n2 := newNode(t), newNode(t)
	p := startPipeline(t, nodeSection("one", n1.location())+nodeSection("two", n2.location())+
		"[collection_group_g1]\ntarget_nodes = one\n[collection_group_g2]\ntarget_nodes = two\n")
	p.submit(1, func(_ int, s *collector.Submission) {
		s.Description, s.GroupAssignments = "assigned to g1", []string{"g1"}
	})
	p.submit(1, func(_ int, s *collector.Submission) {
		s.Description, s.GroupAssignments = "assigned to an unknown group", []string{"nosuchgroup"}
	})
	ctx := testCtx(t)
	n1.waitFor(ctx, 2)
	n2.waitFor(ctx, 1)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	// The unknown assignment fell back to every group; the named one went to g1 only.
	if got := n2.received(); len(got) != 1 || got[0].Description != "assigned to an unknown group" {
		t.Fatalf("g2 received %d submissions (%v), want only the fallback one", len(got), got)
	}
	if !strings.Contains(p.Logs(), "does not map to any known group") {
		t.Fatalf("no error logged for an unknown group assignment:\n%s", p.Logs())
	}
}

func TestStagedNamesCannotEscape(t *testing.T) {
	n := newNode(t)
	p := startPipeline(t, nodeSection("a", n.location())+"[collection_group_g]\n")
	names := []string{"../../etc/passwd", "/abs/x", "a/../../b"}
	p.submit(1, func(_ int, s *collector.Submission) {
		s.Files = nil
		for i, name := range names {
			src := filepath.Join(t.TempDir(), "src")
			os.WriteFile(src, []byte(fmt.Sprint(i)), 0o600)
			s.Files = append(s.Files, collector.File{Path: src, Name: name})
		}
	})
	ctx := testCtx(t)
	got := n.waitFor(ctx, 1)[0]
	if len(got.Files) != 3 {
		t.Fatalf("files: %+v", got.Files)
	}
	for _, f := range got.Files {
		abs, _ := filepath.Abs(f.Path)
		if !strings.HasPrefix(abs, n.dir+string(filepath.Separator)) {
			t.Errorf("node stored %q outside its dir", f.Path)
		}
		if strings.Contains(f.Name, "..") || strings.HasPrefix(f.Name, "/") {
			t.Errorf("unsafe name %q", f.Name)
		}
	}
	if _, err := os.Stat(filepath.Join(p.Dir, "etc")); err == nil {
		t.Error("staging wrote outside the incoming dir")
	}
}
