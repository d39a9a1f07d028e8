package groups_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups"
)

// switchSource is a node source whose answer the test switches between a
// node list and an error, the way an ACE node database goes away (wrong
// user, server down) and comes back.
type switchSource struct {
	nodes groups.StaticNodes
	mu    sync.Mutex
	err   error
	calls atomic.Int64
}

func (s *switchSource) Nodes(ctx context.Context) ([]groups.Node, error) {
	s.calls.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return s.nodes.Nodes(ctx)
}

func (s *switchSource) fail(err error) { s.mu.Lock(); s.err = err; s.mu.Unlock() }

// A node source that fails blocks its group visibly (a WARN naming the
// reason, once while it persists; the reason in Groups) and loses nothing:
// with full_delivery = no as well as yes the items stay READY and are
// delivered once the source answers again.
func TestFailingNodeSourceBlocksVisiblyAndLosesNothing(t *testing.T) {
	n := newNode(t)
	dbErr := errors.New("groups: reading ACE nodes of company 1: Error 1045 (28000): Access denied for user 'ace'@'10.0.0.5'")
	sources := map[string]*switchSource{}
	for _, g := range []string{"nofull", "full"} {
		sources[g] = &switchSource{nodes: groups.StaticNodes{{Name: "a", Location: n.location(), AnyMode: true}}}
		sources[g].fail(dbErr)
	}
	conf := aceDatabase +
		"[collection_group_nofull]\ndatabase = ace\nfull_delivery = no\n" + fast +
		"[collection_group_full]\ndatabase = ace\nfull_delivery = yes\n" + fast
	start := time.Now()
	p := startPipelineWith(t, t.TempDir(), conf, daemon.Options{
		NodeSources: map[string]groups.NodeSource{"nofull": sources["nofull"], "full": sources["full"]},
	})
	p.submit(3, nil)
	ctx := testCtx(t)
	for _, g := range []string{"nofull", "full"} {
		p.waitUntil(ctx, g+" blocked", func() bool { return p.groupStatus(g).Blocked != "" })
		// Keep the source failing over many checks, so the rate limit shows.
		calls := sources[g].calls.Load()
		p.waitUntil(ctx, g+" source asked again", func() bool { return sources[g].calls.Load() >= calls+5 })
		st := p.groupStatus(g)
		if want := "node source failing: " + dbErr.Error(); st.Blocked != want || st.Type != groups.TypeACE {
			t.Fatalf("group %s status %+v, want blocked %q", g, st, want)
		}
		if st.BlockedSince.Before(start) || st.BlockedSince.After(time.Now()) {
			t.Fatalf("group %s blocked since %v", g, st.BlockedSince)
		}
		lines := p.logLines("level=WARN", `msg="delivery blocked; work waits"`, "group="+g, "Access denied")
		if allowed := 1 + int(time.Since(start)/groups.BlockedLogEvery); len(lines) < 1 || len(lines) > allowed {
			t.Fatalf("group %s: %d WARN lines about the failing source, want 1..%d:\n%s", g, len(lines), allowed, p.Logs())
		}
		if got := p.count(g, "READY"); got != 3 {
			t.Fatalf("group %s: %d items READY while its node source fails, want all 3 (ERROR: %d)", g, got, p.count(g, "ERROR"))
		}
	}
	if len(n.received()) != 0 {
		t.Fatalf("delivered %d without a node list", len(n.received()))
	}

	for _, s := range sources {
		s.fail(nil)
	}
	n.waitFor(ctx, 6)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	for _, g := range []string{"nofull", "full"} {
		p.waitUntil(ctx, g+" unblocked", func() bool { return p.groupStatus(g).Blocked == "" })
		if st := p.groupStatus(g); !st.BlockedSince.IsZero() {
			t.Fatalf("unblocked group %s still has a since: %+v", g, st)
		}
		if len(p.logLines("level=INFO", `msg="delivery unblocked"`, "group="+g)) != 1 {
			t.Fatalf("group %s: no INFO line when delivery resumed:\n%s", g, p.Logs())
		}
	}
}

// An empty node list read successfully is the one case where a group
// without full delivery fails its waiting work (ACE's behaviour).
func TestEmptyNodeListFailsWorkWithoutFullDeliveryOnly(t *testing.T) {
	empty := &switchSource{}
	conf := aceDatabase +
		"[collection_group_nofull]\ndatabase = ace\nfull_delivery = no\n" + fast +
		"[collection_group_full]\ndatabase = ace\nfull_delivery = yes\n" + fast
	p := startPipelineWith(t, t.TempDir(), conf, daemon.Options{
		NodeSources: map[string]groups.NodeSource{"nofull": empty, "full": empty},
	})
	p.submit(2, nil)
	ctx := testCtx(t)
	p.waitUntil(ctx, "nofull failed", func() bool { return p.count("nofull", "ERROR") == 2 })
	p.waitUntil(ctx, "full blocked", func() bool { return p.groupStatus("full").Blocked == "no node available" })
	if got := p.count("full", "READY"); got != 2 {
		t.Fatalf("full delivery group: %d READY, want 2", got)
	}
	if reasons := p.errorReasons(ctx); len(reasons) != 2 {
		t.Fatalf("errors %v", reasons)
	} else {
		for _, r := range reasons {
			if r != "no node available" {
				t.Fatalf("reason %q", r)
			}
		}
	}
}

func TestBlockedReasonsModeAndBackoff(t *testing.T) {
	up := newNode(t)
	addr, _ := newDownNode(t)
	p := startPipeline(t,
		nodeSection("up", up.location())+"analysis_modes = analysis\n"+
			nodeSection("down", "http://"+addr)+
			"[collection_group_modes]\ntarget_nodes = up\nfull_delivery = yes\n"+fast+
			"[collection_group_backoff]\ntarget_nodes = down\nfull_delivery = yes\ntimeout = 1s\nbackoff_min = 30s\nbackoff_max = 60s\n")
	p.submit(1, func(_ int, s *collector.Submission) { s.AnalysisMode = "correlation" })
	p.submit(1, func(_ int, s *collector.Submission) { s.AnalysisMode = "analysis" })
	ctx := testCtx(t)
	up.waitFor(ctx, 1)
	p.waitUntil(ctx, "mode reason", func() bool {
		return p.groupStatus("modes").Blocked == `no node for analysis mode "correlation"`
	})
	p.waitUntil(ctx, "backoff reason", func() bool {
		return strings.HasPrefix(p.groupStatus("backoff").Blocked, "all nodes backing off until ")
	})
	// The reason is set before the worker hands the claimed item back:
	// wait for it to be READY again (or, wrongly, parked).
	p.waitUntil(ctx, "the correlation item released", func() bool {
		return p.count("modes", "READY") == 1 || p.count("modes", "ERROR") != 0
	})
	if got := p.count("modes", "READY"); got != 1 {
		t.Fatalf("the correlation item: %d READY, %d ERROR", got, p.count("modes", "ERROR"))
	}
	if len(p.logLines("level=WARN", "group=modes", "no node for analysis mode")) != 1 {
		t.Fatalf("no WARN for the mode:\n%s", p.Logs())
	}
}
