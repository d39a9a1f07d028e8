package groups_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/daemon"
	"github.com/ace-collector/ace-collector/groups/grouptest"
)

// submitBare stores n submissions without files (cheap), returning them.
func (p *pipeline) submitBare(n int) []*collector.Submission {
	p.t.Helper()
	out := make([]*collector.Submission, 0, n)
	for i := range n {
		s := collector.NewSubmission(fmt.Sprintf("weighted %d", i))
		if err := p.Sink().Submit(context.Background(), s); err != nil {
			p.t.Fatalf("submit %d: %v", i, err)
		}
		out = append(out, s)
	}
	return out
}

func weightedNode(name, loc string, weight int) string {
	return fmt.Sprintf("[node_%s]\nlocation = %s\nweight = %d\n", name, loc, weight)
}

// within reports whether got is want ± pct %.
func within(got, want int, pct float64) bool {
	d := float64(got - want)
	return d <= float64(want)*pct/100 && -d <= float64(want)*pct/100
}

// Weights 3:1 over 4,000 submissions: 3,000 ± 2 % and 1,000 ± 2 %.
func TestWeighted3To1Over4000(t *testing.T) {
	a, b := newNode(t), newNode(t)
	p := startPipeline(t, weightedNode("a", a.location(), 3)+weightedNode("b", b.location(), 1)+
		"[collection_group_g]\nbatch_size = 64\n"+fast)
	p.submitBare(4000)
	ctx := testCtx(t)
	p.waitUntil(ctx, "every submission delivered", func() bool { return p.Stats().Get("group:g", "delivered") == 4000 })
	na, nb := len(a.received()), len(b.received())
	t.Logf("weighted split 3:1 over 4000: a %d, b %d", na, nb)
	if !within(na, 3000, 2) || !within(nb, 1000, 2) {
		t.Fatalf("split a %d / b %d, want 3000 ± 2 %% / 1000 ± 2 %%", na, nb)
	}
}

// A node that fails drops out and its share goes to the other node, with
// nothing parked; once it recovers it gets its share back.
func TestFailedNodeShareMovesAndReturns(t *testing.T) {
	addr, start := newDownNode(t)
	b := newNode(t)
	p := startPipeline(t, weightedNode("a", "http://"+addr, 3)+weightedNode("b", b.location(), 1)+
		"[collection_group_g]\nretry_max = 0\n"+fast)
	p.submitBare(40)
	ctx := testCtx(t)
	b.waitFor(ctx, 40)
	if p.count("g", "ERROR") != 0 {
		t.Fatal("items parked while another node was up")
	}
	a := start()
	// Once a takes deliveries again it gets its share of what follows.
	for len(a.received()) == 0 {
		p.submitBare(1)
		p.waitUntil(ctx, "the backlog delivered", func() bool { return p.backlog() == 0 })
	}
	before := len(b.received())
	p.submitBare(400)
	p.waitUntil(ctx, "the backlog delivered", func() bool { return p.backlog() == 0 })
	na, nb := len(a.received())-1, len(b.received())-before
	t.Logf("after recovery: a %d, b %d of 400", na, nb)
	if !within(na, 300, 2) || !within(nb, 100, 6) {
		t.Fatalf("after recovery a %d / b %d, want about 300 / 100", na, nb)
	}
}

// failingNode answers every submission with 503 and counts, per
// submission uuid, how often it was asked.
type failingNode struct {
	hs  *httptest.Server
	mu  sync.Mutex
	per map[string]int
}

func newFailingNode(t *testing.T) *failingNode {
	f := &failingNode{per: map[string]int{}}
	f.hs = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := analysisUUID(r)
		f.mu.Lock()
		f.per[id]++
		f.mu.Unlock()
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	t.Cleanup(f.hs.Close)
	return f
}

// analysisUUID reads submission_uuid from the request's analysis field
// (url-encoded without files, multipart with).
func analysisUUID(r *http.Request) string {
	if err := r.ParseMultipartForm(1 << 20); err != nil && r.PostForm == nil {
		return "unreadable"
	}
	var doc struct {
		UUID string `json:"submission_uuid"`
	}
	if json.Unmarshal([]byte(r.FormValue("analysis")), &doc) != nil || doc.UUID == "" {
		return "unreadable"
	}
	return doc.UUID
}

// An item a node failed is retried at another node, not sent back to the
// failing one while a healthy node is idle: no submission reaches the
// failing node twice, and every one is delivered by the other.
func TestRetriedItemGoesToAnotherNode(t *testing.T) {
	bad := newFailingNode(t)
	good := newNode(t)
	// backoff_min 1ms: the failing node is usable again almost at once,
	// so only the retry's preference keeps an item away from it.
	p := startPipeline(t, weightedNode("a", bad.hs.URL, 1)+weightedNode("b", good.location(), 1)+
		"[collection_group_g]\nretry_max = 0\nbackoff_min = 1ms\nbackoff_max = 2ms\n")
	subs := p.submitBare(50)
	ctx := testCtx(t)
	good.waitDistinct(ctx, 50)
	p.waitUntil(ctx, "cleanup", func() bool { return p.backlog() == 0 })
	bad.mu.Lock()
	defer bad.mu.Unlock()
	if len(bad.per) == 0 {
		t.Fatal("the failing node was never tried: the test shows nothing")
	}
	for _, s := range subs {
		if n := bad.per[s.UUID]; n > 1 {
			t.Errorf("submission %s went to the failing node %d times", s.UUID, n)
		}
	}
	if n := bad.per["unreadable"]; n > 0 {
		t.Fatalf("%d requests without a readable submission_uuid", n)
	}
}

// BenchmarkWeightedSplit measures the 3:1 split with several workers
// delivering at once (where in-flight counts, not only the round robin,
// decide): b.N submissions stored first, then drained to two ACE
// receivers; reports each node's share in percent.
//
//	go test -run '^$' -bench WeightedSplit -benchtime 4000x ./groups
func BenchmarkWeightedSplit(b *testing.B) {
	for _, threads := range []int{1, 4} {
		b.Run(fmt.Sprintf("threads=%d", threads), func(b *testing.B) {
			var counts [2]atomic.Int64
			var locs [2]string
			for i := range counts {
				srv, err := api.NewServer(api.ServerOptions{Dir: b.TempDir(), Logger: quietLog(),
					OnSubmit: func(*api.Received) { counts[i].Add(1) }})
				if err != nil {
					b.Fatal(err)
				}
				hs := httptest.NewServer(srv.Handler())
				b.Cleanup(hs.Close)
				locs[i] = hs.URL
			}
			p := grouptest.New(b, weightedNode("a", locs[0], 3)+weightedNode("b", locs[1], 1)+
				grouptest.Group("g", "ace", fmt.Sprintf("thread_count = %d", threads), "batch_size = 64"), daemon.Options{})
			p.Fill(b.N, 8, func(i int) *collector.Submission { return collector.NewSubmission(fmt.Sprintf("split %d", i)) })
			ctx := grouptest.Ctx(b)
			b.ResetTimer()
			p.Run()
			p.WaitUntil(ctx, "the queue drained", func() bool { return p.Stats().Get("group:g", "delivered") == int64(b.N) })
			b.StopTimer()
			a, bb := counts[0].Load(), counts[1].Load()
			b.ReportMetric(100*float64(a)/float64(a+bb), "%a(w3)")
			b.ReportMetric(100*float64(bb)/float64(a+bb), "%b(w1)")
		})
	}
}
