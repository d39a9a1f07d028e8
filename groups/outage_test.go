package groups_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ace-collector/ace-collector/collector"
)

// outageFront sits at a node's address in front of a real receiver and
// plays an outage: answer 503, or hold requests longer than the client's
// timeout, or pass them through.
type outageFront struct {
	mode     atomic.Value // "503", "slow" or "pass"
	answered atomic.Int64 // 503 answers sent
	timedOut atomic.Int64 // slow requests the client gave up on
	hs       *httptest.Server
}

func startOutageFront(t *testing.T, ln net.Listener, backend http.Handler) *outageFront {
	t.Helper()
	f := &outageFront{}
	release := make(chan struct{})
	f.mode.Store("503")
	f.hs = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load().(string) {
		case "503":
			f.answered.Add(1)
			http.Error(w, "node is restarting", http.StatusServiceUnavailable)
		case "slow":
			// Never answers: the delivery client's timeout ends the request.
			// The body is read first, so that the server notices the client
			// closing the connection (and cancels r.Context()).
			io.Copy(io.Discard, r.Body)
			select {
			case <-r.Context().Done():
				f.timedOut.Add(1)
			case <-release:
			}
		default:
			backend.ServeHTTP(w, r)
		}
	}))
	f.hs.Listener.Close() // the one NewUnstartedServer made: serve on ln
	f.hs.Listener = ln
	f.hs.Start()
	t.Cleanup(func() { close(release); f.hs.Close() })
	return f
}

// TestOutagePhasesNothingLost takes the only node through refusing
// connections, answering 503 and answering slower than the timeout, with
// submissions arriving in every phase, then recovers it: every submission
// (and its attachment) must arrive, none may end in ERROR, and the queue
// must drain.
func TestOutagePhasesNothingLost(t *testing.T) {
	port := reservePort(t) // phase 1: nothing listens, connections are refused
	p := startPipeline(t, nodeSection("a", "http://"+port.addr)+
		"[collection_group_g]\nfull_delivery = yes\nretry_max = 0\nthread_count = 2\nbatch_size = 4\n"+
		"timeout = 150ms\nbackoff_min = 5ms\nbackoff_max = 50ms\n")
	ctx := testCtx(t)
	want := map[string]string{} // submission uuid → sha256 of its attachment
	submit := func(phase string, n int) {
		t.Helper()
		p.submit(n, func(i int, s *collector.Submission) {
			content := fmt.Sprintf("%s attachment %d of %s", phase, i, s.UUID)
			src := filepath.Join(t.TempDir(), "a.txt")
			if err := os.WriteFile(src, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			s.Files = []collector.File{{Path: src, Name: "a.txt", DeleteSource: true}}
			sum := sha256.Sum256([]byte(content))
			want[s.UUID] = hex.EncodeToString(sum[:])
		})
	}
	noErrors := func(phase string) {
		t.Helper()
		if e := p.count("g", "ERROR"); e != 0 || p.Stats().Get("group:g", "errors") != 0 {
			t.Fatalf("%s: %d items ERROR (errors stat %d); a transient outage must never park work",
				phase, e, p.Stats().Get("group:g", "errors"))
		}
	}
	retried := func() int64 { return p.Stats().Get("group:g", "retried") }

	submit("refused", 5)
	p.waitUntil(ctx, "refused attempts", func() bool { return retried() >= 3 })
	noErrors("refused")

	n := newNode(t) // the real receiver behind the front
	front := startOutageFront(t, port.listen(t), n.hs.Config.Handler)
	submit("503", 5)
	p.waitUntil(ctx, "503 answers", func() bool { return front.answered.Load() >= 5 })
	noErrors("503")

	front.mode.Store("slow")
	before := retried()
	submit("slow", 5)
	p.waitUntil(ctx, "timed-out attempts", func() bool { return front.timedOut.Load() >= 3 && retried() >= before+3 })
	noErrors("slow")
	if got := len(n.received()); got != 0 {
		t.Fatalf("node received %d submissions during the outage", got)
	}

	front.mode.Store("pass")
	n.waitFor(ctx, 15)
	submit("recovered", 5)
	n.waitDistinct(ctx, 20)
	p.waitUntil(ctx, "queue drained", func() bool { return p.backlog() == 0 && p.incomingDirs() == 0 })
	noErrors("recovered")
	got := n.received() // all of it: nothing is in flight once the queue drained

	seen := map[string]int{}
	for _, r := range got {
		seen[r.SubmissionUUID]++
		sum, ok := want[r.SubmissionUUID]
		if !ok {
			t.Errorf("node received unknown submission %s", r.SubmissionUUID)
			continue
		}
		if len(r.Files) != 1 || r.Files[0].SHA256 != sum {
			t.Errorf("submission %s arrived with files %+v, want one with sha256 %s", r.SubmissionUUID, r.Files, sum)
		}
	}
	for u := range want {
		if seen[u] == 0 {
			t.Errorf("submission %s was lost", u)
		}
	}
	// A request the client gave up on may still have been processed by the
	// node (held in a queue on a loaded machine, or answered after the
	// timeout): delivering it again is at-least-once, as ACE's. Without a
	// timed-out attempt a second delivery is a bug.
	timedOut := map[string]bool{}
	for _, l := range p.logLines(`msg="delivery failed; will retry"`, "kind=timeout") {
		if _, rest, ok := strings.Cut(l, " uuid="); ok {
			u, _, _ := strings.Cut(rest, " ")
			timedOut[u] = true
		}
	}
	dups := 0
	for u, c := range seen {
		if c > 1 && !timedOut[u] {
			t.Errorf("submission %s delivered %d times without any crash or timed-out attempt", u, c)
		}
		dups += c - 1
	}
	t.Logf("503 answers %d, timed-out attempts %d, retries %d, delivered %d, deliveries again after a timeout %d",
		front.answered.Load(), front.timedOut.Load(), retried(), p.Stats().Get("group:g", "delivered"), dups)
}
