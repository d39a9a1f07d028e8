package groups_test

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ace-collector/ace-collector/api"
	"github.com/ace-collector/ace-collector/collector"
	"github.com/ace-collector/ace-collector/collector/collectortest"
	"github.com/ace-collector/ace-collector/daemon"
)

// Run with a large backlog by hand, e.g.
//
//	go test -v -timeout 60m -run TestBacklogQueuedWhileNodeDownThenDrains ./groups -args -backlog.n=1000000 -backlog.maxrss=150
var (
	backlogN       = flag.Int("backlog.n", 20000, "submissions queued while the node is down")
	backlogMaxRSS  = flag.Int64("backlog.maxrss", 300, "allowed VmHWM growth in MiB over the whole test (does not scale with n)")
	backlogBackoff = flag.Duration("backlog.backoff_max", 5*time.Second, "the group's backoff_max: how long a down node waits between probes")
	backlogTimeout = flag.Duration("backlog.timeout", 0, "deadline of the whole test (default: 2m or 1ms per submission, whichever is more)")
)

// countingNode is an ACE-compatible receiver that keeps one byte per
// expected submission (not the submissions), so the test process's memory
// measures the collector, not the receiver.
type countingNode struct {
	seen     []atomic.Bool
	distinct atomic.Int64
	answers  atomic.Int64
	bad      atomic.Int64
	first    atomic.Int64 // unix nanoseconds of the first answer
}

func (c *countingNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var sub struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal([]byte(r.FormValue("analysis")), &sub); err != nil {
		c.bad.Add(1)
		http.Error(w, "bad analysis: "+err.Error(), http.StatusBadRequest)
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(sub.Description, "backlog "))
	if err != nil || i < 0 || i >= len(c.seen) {
		c.bad.Add(1)
		http.Error(w, "unexpected description "+sub.Description, http.StatusBadRequest)
		return
	}
	c.first.CompareAndSwap(0, time.Now().UnixNano())
	if !c.seen[i].Swap(true) {
		c.distinct.Add(1)
	}
	c.answers.Add(1)
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"result": {"uuid": %q}}`, r.Header.Get(api.SubmissionUUIDHeader))
}

// vmHWM returns the process's peak resident set size in bytes.
func vmHWM(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("parsing VmHWM %q: %v", rest, err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/self/status")
	return 0
}

// A large backlog queued while the only node is down is held on disk, not
// in memory, and drains completely once the node comes up.
func TestBacklogQueuedWhileNodeDownThenDrains(t *testing.T) {
	n := *backlogN
	port := reservePort(t) // connections are refused until the node starts

	// Warnings only: the pipeline's debug lines (five per submission),
	// kept in memory for the failure report, would be what the memory
	// figure measures.
	logs := &collectortest.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pipeline warnings:\n%s", logs)
		}
	})
	p := startPipelineWith(t, t.TempDir(), nodeSection("a", "http://"+port.addr)+
		"[collection_group_g]\nfull_delivery = yes\nretry_max = 0\nbatch_size = 256\nthread_count = 8\n"+
		"backoff_min = 100ms\nbackoff_max = "+backlogBackoff.String()+"\n",
		daemon.Options{Log: daemon.NewLogger(logs, slog.LevelWarn, false)})
	timeout := max(2*time.Minute, time.Duration(n)*time.Millisecond)
	if *backlogTimeout > 0 {
		timeout = *backlogTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	base := vmHWM(t)

	// Enqueue from many goroutines, as collectors do, so group commit works.
	start := time.Now()
	const producers = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, producers)
	for w := 0; w < producers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				s := collector.NewSubmission("backlog " + strconv.FormatInt(i, 10))
				s.AddObservable(collector.ObsIPv4, "192.0.2."+strconv.FormatInt(i%250+1, 10))
				if err := p.Sink().Submit(ctx, s); err != nil {
					errs <- fmt.Errorf("submit %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	enqueueTook := time.Since(start)
	queuedRSS := vmHWM(t)
	if b := p.backlog(); b != int64(n) {
		t.Fatalf("backlog while the node is down = %d, want %d", b, n)
	}
	if got := p.count("g", "ERROR"); got != 0 {
		t.Fatalf("%d items ERROR while the node was down", got)
	}

	// Start the node on the address the group was refused at.
	cn := &countingNode{seen: make([]atomic.Bool, n)}
	l := port.listen(t)
	srv := &http.Server{Handler: cn, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	drainStart := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for cn.distinct.Load() < int64(n) {
		select {
		case <-ctx.Done():
			t.Fatalf("drained %d of %d before the deadline (%s)", cn.distinct.Load(), n, timeout)
		case <-tick.C:
		}
	}
	drainTook := time.Since(drainStart)
	firstAfter := time.Unix(0, cn.first.Load()).Sub(drainStart)
	rateTook := drainTook - firstAfter
	for p.backlog() != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("backlog not cleaned up: %d left", p.backlog())
		case <-tick.C:
		}
	}
	peak := vmHWM(t)
	if cn.bad.Load() != 0 {
		t.Errorf("node rejected %d malformed submissions", cn.bad.Load())
	}
	if e := p.Stats().Get("group:g", "errors"); e != 0 {
		t.Errorf("%d deliveries ended in ERROR", e)
	}
	const mib = 1 << 20
	t.Logf("backlog n=%d: enqueue %s (%.0f/s), VmHWM start %d MiB, queued %d MiB, after drain %d MiB; "+
		"node up → first delivery %s, drain %s (%.0f/s from the first delivery, %d HTTP answers for %d submissions)",
		n, enqueueTook.Round(time.Millisecond), float64(n)/enqueueTook.Seconds(), base/mib, queuedRSS/mib, peak/mib,
		firstAfter.Round(time.Millisecond), drainTook.Round(time.Millisecond), float64(n)/rateTook.Seconds(), cn.answers.Load(), n)
	if growth := (peak - base) / mib; growth > *backlogMaxRSS {
		t.Errorf("VmHWM grew by %d MiB over the test, limit %d MiB (-backlog.maxrss)", growth, *backlogMaxRSS)
	}
}
